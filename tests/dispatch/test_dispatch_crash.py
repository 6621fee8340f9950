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
from pnyx.executors.local import LocalExecutor
from pnyx.jobs.model import JobStatus
from pnyx.jobs.service import JobService, Submission
from pnyx.wiring import Platform
from tests.dispatch.conftest import ADA
from tests.executors.job_root import JOB_PYTHON

WORKER = Path(__file__).with_name("dispatch_worker.py")


def _env(platform: Platform, tmp_path: Path, jobs_root: Path | None = None) -> dict[str, str]:
    return {
        **os.environ,
        "PNYX_DATABASE_URL": platform.settings.database_url,
        "PNYX_JOBS_ROOT": str(jobs_root or tmp_path / "jobs"),
        "PNYX_LOCK_DIR": str(tmp_path),
    }


def _runs(jobs_root: Path) -> list[str]:
    """The job ids printed by every attempt that ran (each attempt's own output log)."""
    return [line for log in sorted(jobs_root.glob("state/*/output.log")) for line in log.read_text().split()]


@pytest.mark.slow
def test_kill_between_decision_and_submission(
    system_platform: Platform,
    jobs: JobService,
    dispatcher: Dispatcher,
    local_executor: LocalExecutor,
    tmp_path: Path,
) -> None:
    ids = []
    for i in range(30):
        code = "print(__import__('os').environ['PNYX_JOB_ID'])"
        ids.append(
            jobs.submit(
                ADA,
                Submission(
                    name=f"j{i}",
                    project="open-llm",
                    accelerators=1 + i % 4,
                    estimate_s=60,
                    command=(JOB_PYTHON, "-c", code),
                ),
            ).id
        )
    dispatcher.leadership.release()
    rng = random.Random(11)
    seen_dispatching = 0
    for _round in range(5):
        worker = subprocess.Popen(
            [sys.executable, str(WORKER)],
            env=_env(system_platform, tmp_path, local_executor.layout.root),
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
    assert sorted(_runs(local_executor.layout.root)) == sorted(ids)  # every job ran, and exactly once


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
