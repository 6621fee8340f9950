"""Witnesses end to end: a real `pnyx witness serve` process cosigns a growing log, refuses a fork
signed with the real key, keeps its state across a restart; `pnyx log verify` demands k of n."""

from __future__ import annotations

import dataclasses
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from pnyx.cli.main import app
from pnyx.core.errors import InvalidInput
from pnyx.server import WitnessThread
from pnyx.settings import Settings
from pnyx.transparency.cosignature import CosignatureVerifier, verify_cosignatures
from pnyx.transparency.note import NoteSigner, generate_signer
from pnyx.transparency.service import LogService
from pnyx.transparency.store import log_checkpoints, log_entries, log_nodes, log_state
from pnyx.transparency.witness import create_witness_key
from pnyx.transparency.witness_client import Witness, WitnessCollector
from pnyx.transparency.witness_rules import format_request
from pnyx.wiring import Platform
from tests.conftest import LiveServer

RESERVED_PORTS = {6379, 5432, 5672, 1883, 4222, 3306, 6390}
runner = CliRunner()


def _free_port() -> int:
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port: int = s.getsockname()[1]
        if port not in RESERVED_PORTS:
            return port


class WitnessProcess:
    """`pnyx witness serve` in its own process, for one log."""

    def __init__(self, tmp: Path, log_vkey: str) -> None:
        self.key = tmp / "witness.key"
        self.verifier = create_witness_key(self.key, "witness.member-state.example").verifier
        self.state = tmp / "witness-state"
        self.log_vkey = log_vkey
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        command = [str(Path(sys.executable).parent / "pnyx"), "witness", "serve", "--key", str(self.key)]
        command += ["--log", f"{self.log_vkey.split('+')[0]}={self.log_vkey}", "--state", str(self.state)]
        with (self.state.parent / "witness.log").open("ab") as out:
            self.process = subprocess.Popen([*command, "--port", str(self.port)], stdout=out, stderr=out)
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    said = (self.state.parent / "witness.log").read_text()[-2000:]
                    raise RuntimeError(f"the witness did not start: {said}") from None
                time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None


@pytest.fixture
def witness(platform: Platform, tmp_path: Path) -> Iterator[WitnessProcess]:
    assert platform.log.signer is not None
    process = WitnessProcess(tmp_path, platform.log.signer.vkey)
    process.start()
    yield process
    process.stop()


def _grow(platform: Platform, prefix: str, n: int) -> int:
    for i in range(n):
        platform.identity.register_user(name=f"{prefix}{i:04d}", roles=["researcher"])
    platform.log.drain(batch=7)
    return platform.log.size()


def _collector(platform: Platform, witness: WitnessProcess, client: httpx.Client) -> WitnessCollector:
    return WitnessCollector(platform.log, [Witness(witness.url, witness.verifier)], client)


def _fork(platform: Platform, n: int) -> None:
    """Throw the log away and sign a different history with the same key (a stolen key)."""
    with platform.engine.begin() as conn:
        for table in (log_entries, log_nodes, log_checkpoints, log_state):
            conn.execute(table.delete())
    _grow(platform, "forger", n)


def _verify(server: LiveServer, state: Path, *extra: str) -> tuple[int, str]:
    result = runner.invoke(
        app, ["log", "verify", f"{server.url}/log", "--state", str(state), *extra], env={"COLUMNS": "300"}
    )
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


def test_witness_cosigns_a_growing_log_and_verify_demands_it(
    platform: Platform, witness: WitnessProcess, live_server: LiveServer, tmp_path: Path
) -> None:
    with httpx.Client(timeout=10) as client:
        collector = _collector(platform, witness, client)
        for step in range(3):
            size = _grow(platform, f"citizen{step}-", 5 + 60 * step)
            found = collector.collect()
            assert found is not None
            assert found.size == size
            assert found.cosigned == (witness.verifier.name,)
            assert found.missing == ()
            assert collector.sizes[witness.url] == size
    note = platform.log.checkpoint().note
    assert verify_cosignatures(note, [witness.verifier]).cosigned.keys() == {witness.verifier.name}
    code, out = _verify(
        live_server, tmp_path / "m.json", "--witness", witness.verifier.vkey, "--min-witnesses", "1"
    )
    assert code == 0, out
    assert f"cosigned by {witness.verifier.name}" in out


@pytest.mark.parametrize("forged_size", [40, 65])
def test_a_fork_signed_with_the_real_key_is_refused_and_flagged(
    platform: Platform, witness: WitnessProcess, live_server: LiveServer, tmp_path: Path, forged_size: int
) -> None:
    with httpx.Client(timeout=10) as client:
        assert _grow(platform, "citizen", 40) == 40
        assert _collector(platform, witness, client).collect() is not None
        _fork(platform, forged_size)
        forked = _collector(platform, witness, client).collect()  # a fresh server: starts from size 0
    assert forked is not None
    assert forked.cosigned == ()
    assert forked.missing == (witness.verifier.name,)
    assert verify_cosignatures(platform.log.checkpoint().note, [witness.verifier]).cosigned == {}
    other = CosignatureVerifier.from_vkey(create_witness_key(tmp_path / "w2", "w2.example").verifier.vkey)
    code, out = _verify(
        live_server, tmp_path / "m.json", "--witness", witness.verifier.vkey, "--witness", other.vkey,
        "--min-witnesses", "1",
    )  # fmt: skip
    assert code == 1
    assert "only 0 of the 1 required witnesses cosigned the checkpoint" in out
    assert "witness.member-state.example, w2.example" in out


def test_a_restarted_witness_keeps_its_state(platform: Platform, witness: WitnessProcess) -> None:
    with httpx.Client(timeout=10) as client:
        _grow(platform, "citizen", 30)
        assert _collector(platform, witness, client).collect() is not None
        witness.stop()
        witness.start()
        note = platform.log.latest().note
        response = client.post(f"{witness.url}/add-checkpoint", content=format_request(0, [], note))
        assert response.status_code == 409
        assert response.headers["content-type"] == "text/x.tlog.size"
        assert response.text == "30\n"
        _grow(platform, "later", 9)
        found = _collector(platform, witness, client).collect()  # 409, then a proof from 30: cosigned
    assert found is not None
    assert found.size == 39
    assert found.cosigned == (witness.verifier.name,)


def test_bad_requests_get_the_tlog_witness_status_codes(platform: Platform, witness: WitnessProcess) -> None:
    _grow(platform, "citizen", 3)
    note = platform.log.latest().note
    stranger = NoteSigner.from_skey(generate_signer("elsewhere.example")[0])
    impostor = NoteSigner.from_skey(generate_signer(platform.log.origin)[0])
    body = note.rpartition("\n\n")[0] + "\n"
    with httpx.Client(base_url=witness.url, timeout=10) as client:
        assert client.post("/add-checkpoint", content=b"garbage").status_code == 400
        assert client.post("/add-checkpoint", content=format_request(4, [], note)).status_code == 400
        assert client.post("/elsewhere", content=format_request(0, [], note)).status_code == 404
        assert client.get("/add-checkpoint").status_code == 405
        unknown = stranger.sign(body.replace(platform.log.origin, stranger.name))
        assert client.post("/add-checkpoint", content=format_request(0, [], unknown)).status_code == 404
        assert (
            client.post("/add-checkpoint", content=format_request(0, [], impostor.sign(body))).status_code
            == 403
        )
        assert (
            client.post("/add-checkpoint", content=format_request(0, [b"\0" * 32], note)).status_code == 422
        )
        assert client.post("/add-checkpoint", content=format_request(0, [], note)).status_code == 200
        conflict = client.post("/add-checkpoint", content=format_request(1, [], note))
    assert conflict.status_code == 409
    assert conflict.text == "3\n"


def test_the_server_serves_the_newest_checkpoint_with_the_quorum(
    platform: Platform, witness: WitnessProcess
) -> None:
    quorum = LogService(platform.uow, platform.log.signer, witness_quorum=1)
    with httpx.Client(timeout=10) as client:
        _grow(platform, "citizen", 12)
        assert quorum.checkpoint().size == 12  # nothing cosigned yet: the newest, as it stands
        _collector(platform, witness, client).collect()
        _grow(platform, "later", 5)
    assert platform.log.checkpoint().size == 17  # no quorum asked: the newest
    served = quorum.checkpoint()
    assert served.size == 12
    assert verify_cosignatures(served.note, [witness.verifier]).cosigned


def test_the_server_thread_collects_cosignatures(platform: Platform, witness: WitnessProcess) -> None:
    settings = dataclasses.replace(
        platform.settings, witnesses=((witness.url, witness.verifier.vkey),), witness_quorum=1
    )
    thread = WitnessThread(dataclasses.replace(platform, settings=settings))
    _grow(platform, "citizen", 4)
    thread.start()
    try:
        deadline = time.monotonic() + 15
        while not verify_cosignatures(platform.log.latest().note, [witness.verifier]).cosigned:
            assert time.monotonic() < deadline, "no cosignature arrived"
            time.sleep(0.05)
    finally:
        thread.stop()
    with platform.engine.connect() as conn:
        notes = conn.execute(sa.select(log_checkpoints.c.note)).scalars().all()
    assert sum(witness.verifier.name in n for n in notes) == 1


def test_witness_settings_are_checked(tmp_path: Path) -> None:
    vkey = create_witness_key(tmp_path / "k", "w.example").verifier.vkey
    env = {"PNYX_DATA_DIR": str(tmp_path), "PNYX_WITNESSES": f"http://w.example:8380={vkey}"}
    settings = Settings.from_env(env)
    assert settings.witnesses == (("http://w.example:8380", vkey),)
    assert settings.witness_quorum == 1
    assert Settings.from_env({**env, "PNYX_WITNESS_QUORUM": "0"}).witness_quorum == 0
    for bad in (
        {"PNYX_WITNESS_QUORUM": "2"},
        {"PNYX_WITNESSES": "w.example=" + vkey},
        {"PNYX_WITNESSES": "http://x=abc"},
    ):
        with pytest.raises(InvalidInput, match=r"PNYX_WITNESS|key"):
            Settings.from_env({**env, **bad})
