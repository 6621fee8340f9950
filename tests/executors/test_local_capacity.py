"""What the local executor admits and keeps: at most ``max_jobs`` jobs run at once (the rest are
QUEUED in the executor and may be cancelled there), outputs are recorded around hostile names and
hard links, and old attempts are swept. Real bwrap, real processes."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from pnyx.executors.local import LocalExecutor, wait_until_final
from pnyx.executors.sandbox import SandboxConfig
from pnyx.jobs.model import FINAL_ENGINE_STATES, EngineRef, EngineState, EngineStatus
from tests.executors.conftest import GRANT, py, spec

ONE_SLOT = SandboxConfig(max_jobs=1)


def _until(ex: LocalExecutor, ref: EngineRef, state: EngineState, timeout_s: float = 15) -> EngineStatus:
    deadline = time.monotonic() + timeout_s
    while (status := ex.status([ref])[0]).state is not state:
        assert time.monotonic() < deadline, status
        time.sleep(0.05)
    return status


def _queued(
    ex: LocalExecutor, ref: EngineRef, timeout_s: float = 45, behind: EngineRef | None = None
) -> None:
    """Until its supervisor waits for a slot (not merely handed over); a job that ended instead, or
    never got there, fails the test with what its engine last said (and of the job ``behind`` which
    it waits, whose slot it should be waiting for)."""
    deadline = time.monotonic() + timeout_s
    while "slots" not in (status := ex.status([ref])[0]).message:
        ahead = None if behind is None else (ex.status([behind])[0], ex.logs(behind))
        assert status.state not in FINAL_ENGINE_STATES, (status, ex.logs(ref), ahead)
        assert time.monotonic() < deadline, (status, ex.logs(ref), ahead)
        time.sleep(0.05)


def test_one_slot_runs_the_second_job_only_after_the_first(job_root: Path) -> None:
    ex = LocalExecutor(job_root, ONE_SLOT)
    first = ex.submit(spec("s1", "sleep", "60"), GRANT)  # ends when cancelled, however slow the machine
    second = ex.submit(spec("s2", "echo", "second ran", limit=5), GRANT)  # 5 s from its start, not its wait
    _until(ex, first, EngineState.RUNNING)
    _queued(ex, second, behind=first)  # a failure says what the first job's engine said too
    waiting = ex.status([second])[0]
    assert waiting.state is EngineState.QUEUED
    assert waiting.message == "waiting for one of this machine's 1 local job slots"
    time.sleep(6)  # the second waits longer than its time limit: the limit counts from its start
    assert ex.status([first])[0].state is EngineState.RUNNING
    ex.cancel(first)
    done = wait_until_final(ex, first, timeout_s=20)
    after = wait_until_final(ex, second)
    assert (done.state, after.state) == (EngineState.CANCELLED, EngineState.SUCCEEDED)  # not timed out
    assert done.ended_at is not None
    assert after.started_at is not None
    assert after.started_at >= done.ended_at
    assert ex.logs(second) == "second ran"


def test_queued_jobs_can_be_cancelled_and_the_next_one_starts(job_root: Path) -> None:
    ex = LocalExecutor(job_root, ONE_SLOT)
    blocker = ex.submit(spec("q1", "sleep", "30"), GRANT)
    _until(ex, blocker, EngineState.RUNNING)
    queued = [ex.submit(spec(f"q{i}", *py("open('outputs/ran', 'w')")), GRANT) for i in (2, 3)]
    for ref in queued:  # one waits at the head of the queue, the other behind it
        _queued(ex, ref)
    for ref in queued:
        ex.cancel(ref)
        cancelled = wait_until_final(ex, ref, timeout_s=10)
        assert cancelled.state is EngineState.CANCELLED
        assert cancelled.started_at is not None
        assert cancelled.ended_at is not None
        assert (cancelled.ended_at - cancelled.started_at).total_seconds() < 2  # it never ran
        assert not (job_root / "work" / ref.engine_job_id).exists()
    assert ex.status([blocker])[0].state is EngineState.RUNNING
    last = ex.submit(spec("q4", *py("print('q4 ran')")), GRANT)
    _queued(ex, last)
    ex.cancel(blocker)
    assert wait_until_final(ex, blocker, timeout_s=20).state is EngineState.CANCELLED
    assert wait_until_final(ex, last).state is EngineState.SUCCEEDED
    assert ex.logs(last) == "q4 ran"


def test_hostile_names_and_hard_links_leave_the_other_outputs_recorded(job_root: Path) -> None:
    ex = LocalExecutor(job_root)
    code = (
        "import os\nopen(b'outputs/bad-\\xff\\xfe-name', 'wb').write(b'x')\n"
        "open('outputs/result.txt', 'w').write('ok')\nos.link('outputs/result.txt', 'outputs/again.txt')\n"
    )
    ref = ex.submit(spec("names", *py(code)), GRANT)
    assert wait_until_final(ex, ref).state is EngineState.SUCCEEDED
    assert [(a.path, a.size) for a in ex.artifacts(ref)] == [("again.txt", 2)]  # one inode, once
    log = ex.logs(ref).splitlines()
    assert "pnyx: outputs/bad-\\xff\\xfe-name: not a printable UTF-8 name (not recorded)" in log
    link = "a hard link to outputs/again.txt: counted once, under that name"
    assert f"pnyx: outputs/result.txt: {link} (not recorded)" in log[-2:]


def test_the_sweep_removes_old_attempts_only(job_root: Path) -> None:
    ex = LocalExecutor(job_root, retention_s=3600)
    for key in ("old", "fresh"):
        wait_until_final(ex, ex.submit(spec(key, *py("open('outputs/x', 'w')")), GRANT))
    alive = ex.submit(spec("alive", "sleep", "30"), GRANT)
    _until(ex, alive, EngineState.RUNNING)
    dead = job_root / "state" / "dead"  # a supervisor that died long ago, without a result
    dead.mkdir(mode=0o700)
    (dead / "pid.json").write_text(json.dumps({"pid": 4_000_000, "start_ticks": 1, "started": 1.0}))
    (job_root / "work" / "orphan").mkdir()  # a work directory whose state a cut-short sweep removed
    long_ago = time.time() - 7200
    for key in ("old", "alive", "dead"):
        os.utime(job_root / "state" / key, (long_ago, long_ago))
    assert ex.sweep() == ["dead", "old"]
    assert sorted(os.listdir(job_root / "state")) == ["alive", "fresh"]
    assert sorted(os.listdir(job_root / "work")) == ["alive", "fresh"]
    assert ex.status([alive])[0].state is EngineState.RUNNING
    ex.cancel(alive)
    wait_until_final(ex, alive, timeout_s=20)
    os.utime(job_root / "state" / "alive", (long_ago, long_ago))
    later = LocalExecutor(job_root, retention_s=3600)
    later.status([])  # starts a sweep in the background (at most once a minute)
    deadline = time.monotonic() + 10
    while (job_root / "state" / "alive").exists():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert not (job_root / "work" / "alive").exists()
    assert (job_root / "state" / "fresh").exists()
