"""A real SIGKILL at random moments never loses, duplicates or reorders a log entry."""

from __future__ import annotations

import json
import os
import random
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from pnyx.identity.store import users
from pnyx.settings import Settings
from pnyx.transparency import merkle
from pnyx.transparency.checkpoint import parse_checkpoint
from pnyx.transparency.note import open_note
from pnyx.transparency.signing import create_key_file
from pnyx.transparency.store import log_checkpoints
from pnyx.wiring import Platform, build_platform

WORKER = Path(__file__).with_name("crash_worker.py")


@pytest.mark.slow
def test_kill_during_appends(database_url: str, tmp_path: Path) -> None:
    key_file = tmp_path / "key"
    signer = create_key_file(key_file, "crash.test/log")
    env = {
        **os.environ,
        "PNYX_DATABASE_URL": database_url,
        "PNYX_LOG_KEY_FILE": str(key_file),
        "PNYX_DATA_DIR": str(tmp_path),
    }
    platform = build_platform(Settings.from_env(env), signer=signer)
    try:
        _kill_and_check(platform, env, tmp_path, random.Random(7))
    finally:
        platform.engine.dispose()  # closed even when a check fails: no connection left to a later test


def _kill_and_check(platform: Platform, env: dict[str, str], tmp_path: Path, rng: random.Random) -> None:
    for _kill in range(6):
        log = tmp_path / "worker.log"
        with log.open("wb") as stderr:
            worker = subprocess.Popen(
                [sys.executable, str(WORKER)], env=env, stderr=stderr, stdout=subprocess.PIPE
            )
        _until_ready(worker, log)  # its start takes long on a loaded machine: kill it while it works
        time.sleep(rng.uniform(0.3, 1.5))
        assert worker.poll() is None, log.read_text()
        worker.send_signal(signal.SIGKILL)
        worker.wait()
        assert worker.stdout is not None
        worker.stdout.close()
        _check_log(platform)  # consistent at every crash point, before any repair
    platform.log.drain()
    entries, registered = _check_log(platform)
    names = [json.loads(e)["data"]["name"] for e in entries]
    assert len(names) == len(set(names)) == len(registered) > 0  # nothing lost, nothing twice
    assert set(names) == registered


def _until_ready(worker: subprocess.Popen[bytes], log: Path, timeout_s: float = 120.0) -> None:
    assert worker.stdout is not None
    ready, _, _ = select.select([worker.stdout], [], [], timeout_s)
    assert ready, f"the worker did not start in {timeout_s} s: {log.read_text()}"
    assert worker.stdout.readline().strip() == b"ready", log.read_text()


def _check_log(platform: object) -> tuple[list[bytes], set[str]]:
    from pnyx.wiring import Platform

    assert isinstance(platform, Platform)
    size = platform.log.size()
    entries = [e.data for e in platform.log.entries(0, 1000)] if size else []
    while len(entries) < size:
        entries += [e.data for e in platform.log.entries(len(entries), 1000)]
    assert len(entries) == size  # contiguous indexes 0..size-1
    leaves = [merkle.leaf_hash(e) for e in entries]
    with platform.engine.connect() as conn:
        checkpoints = (
            conn.execute(sa.select(log_checkpoints).order_by(log_checkpoints.c.size)).mappings().all()
        )
        registered = set(conn.execute(sa.select(users.c.name)).scalars())
    assert platform.log.signer is not None
    for row in checkpoints:  # every checkpoint ever signed is a prefix of today's log
        body, _ = open_note(row["note"], [platform.log.signer.verifier])
        checkpoint = parse_checkpoint(body)
        assert checkpoint.root == merkle.root_from_leaf_hashes(leaves[: checkpoint.size])
    if checkpoints:
        assert checkpoints[-1]["size"] == size
    return entries, registered
