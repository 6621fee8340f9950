"""Kill the dispatcher (SIGKILL) at random points: no job is lost and none starts twice."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pnyx.dispatch.leadership import FileLeadership, PostgresLeadership
from pnyx.dispatch.loop import Dispatcher
from pnyx.jobs.model import JobStatus
from pnyx.jobs.service import JobService, Submission
from pnyx.wiring import Platform
from tests.dispatch.conftest import ADA

WORKER = Path(__file__).with_name("dispatch_worker.py")


def _env(platform: Platform, tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "PNYX_DATABASE_URL": platform.settings.database_url,
        "PNYX_JOBS_ROOT": str(tmp_path / "jobs"),
        "PNYX_LOCK_DIR": str(tmp_path),
    }


@pytest.mark.slow
def test_kill_between_decision_and_submission(
    system_platform: Platform, jobs: JobService, dispatcher: Dispatcher, tmp_path: Path
) -> None:
    marker = tmp_path / "ran.txt"
    ids = []
    for i in range(30):
        code = f"open({str(marker)!r}, 'a').write(__import__('os').environ['PNYX_JOB_ID'] + '\\n')"
        ids.append(
            jobs.submit(
                ADA,
                Submission(
                    name=f"j{i}",
                    project="open-llm",
                    accelerators=1 + i % 4,
                    estimate_s=60,
                    command=(sys.executable, "-c", code),
                ),
            ).id
        )
    dispatcher.leadership.release()
    rng = random.Random(11)
    seen_dispatching = 0
    for _round in range(5):
        worker = subprocess.Popen(
            [sys.executable, str(WORKER)],
            env=_env(system_platform, tmp_path),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(rng.uniform(1.0, 2.5))
        worker.send_signal(signal.SIGKILL)
        worker.wait()
        seen_dispatching += sum(1 for j in jobs.active() if j.status is JobStatus.DISPATCHING)
    print(f"kill rounds left {seen_dispatching} job(s) between decision and submission")
    deadline = time.monotonic() + 90
    while any(jobs.get(ADA, i).status is not JobStatus.COMPLETED for i in ids):
        assert time.monotonic() < deadline, [
            jobs.get(ADA, i) for i in ids if jobs.get(ADA, i).status is not JobStatus.COMPLETED
        ]
        dispatcher.cycle()
        time.sleep(0.05)
    runs = marker.read_text().split()
    assert sorted(runs) == sorted(ids)  # every job ran, and exactly once


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_two_dispatchers_on_postgresql_never_both_lead(system_platform: Platform, tmp_path: Path) -> None:
    first, second = PostgresLeadership(system_platform.engine), PostgresLeadership(system_platform.engine)
    assert first.acquire()
    assert not second.acquire()
    assert first.acquire()  # still the leader
    first.release()
    assert second.acquire()
    second.release()
    holder = subprocess.Popen(
        [sys.executable, str(WORKER), "--hold-lock"],
        env=_env(system_platform, tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert holder.stdout is not None
    assert holder.stdout.readline().strip() == "leader"
    assert not first.acquire()  # another process leads
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    holder.stdout.close()
    deadline = time.monotonic() + 10
    while not first.acquire():  # its connection dropped with it: the lock is free
        assert time.monotonic() < deadline
        time.sleep(0.1)
    first.release()


def test_file_leadership_on_one_machine(tmp_path: Path) -> None:
    a, b = FileLeadership(tmp_path / "d.lock"), FileLeadership(tmp_path / "d.lock")
    assert a.acquire()
    assert not b.acquire()
    a.release()
    assert b.acquire()
    b.release()
