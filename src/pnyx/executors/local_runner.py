"""Supervises one local job: ``python -m pnyx.executors.local_runner [--detach] DIR -- ARGV``.

It claims the attempt (an exclusive create: a second supervisor for the same attempt exits at
once), runs ARGV in its own process group with output to DIR/output.log, enforces the time limit in
DIR/limit_s, forwards SIGTERM (cancellation) to the job, and writes DIR/exit.json atomically when
the job ends. Because it outlives the dispatcher, a dispatcher that restarts finds every job's
outcome in its directory: nothing is lost and nothing runs twice.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType

GRACE_S = 10.0
TIME_LIMIT_EXIT = 124  # as timeout(1)


def main(argv: list[str]) -> int:
    if argv[:1] == ["--detach"]:
        argv = argv[1:]
        _detach()
    if len(argv) < 3 or argv[1] != "--":
        print("usage: python -m pnyx.executors.local_runner DIR -- ARGV...", file=sys.stderr)
        return 2
    job_dir, command = Path(argv[0]), argv[2:]
    if not _claim(job_dir):
        return 0  # another supervisor already runs this attempt: running it twice is never right
    limit = float((job_dir / "limit_s").read_text())
    started = time.time()
    with (job_dir / "output.log").open("ab") as out:
        try:
            child = subprocess.Popen(
                command,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=job_dir,
                start_new_session=True,
            )
        except OSError as exc:
            out.write(f"pnyx: cannot start {command[0]!r}: {exc}\n".encode())
            _finish(job_dir, started, exit_code=127, reason="failed-to-start")
            return 127
        reason = _supervise(child, started + limit)
    _finish(job_dir, started, exit_code=child.returncode, reason=reason)
    return 0


def _claim(job_dir: Path) -> bool:
    """Take the attempt with an exclusive create, then publish this supervisor's pid."""
    try:
        os.close(os.open(job_dir / "claim", os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
    except FileExistsError:
        return False
    tmp = job_dir / "pid.tmp"
    tmp.write_text(str(os.getpid()))
    tmp.replace(job_dir / "pid")
    return True


def _detach() -> None:
    """Fork: the parent exits at once; the supervisor belongs to no one (it publishes its own pid).

    The dispatcher then neither reaps nor holds it, and it outlives a dispatcher crash.
    """
    pid = os.fork()
    if pid > 0:
        os._exit(0)
    os.setsid()
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1):
        os.dup2(devnull, fd)


def _supervise(child: subprocess.Popen[bytes], deadline: float) -> str:
    cancelled = False

    def on_term(_signum: int, _frame: FrameType | None) -> None:
        nonlocal cancelled
        cancelled = True
        _stop(child)

    signal.signal(signal.SIGTERM, on_term)
    while child.poll() is None:
        if time.time() >= deadline:
            _stop(child)
            return "time-limit"
        time.sleep(0.1)
    return "cancelled" if cancelled else "exited"


def _stop(child: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the job's whole process group, SIGKILL after a grace period."""
    try:
        os.killpg(child.pid, signal.SIGTERM)
        child.wait(timeout=GRACE_S)
    except subprocess.TimeoutExpired:
        os.killpg(child.pid, signal.SIGKILL)
        child.wait()
    except ProcessLookupError:
        pass


def _finish(job_dir: Path, started: float, *, exit_code: int, reason: str) -> None:
    if reason == "time-limit":
        exit_code = TIME_LIMIT_EXIT
    result = {"exit_code": exit_code, "reason": reason, "started": started, "ended": time.time()}
    tmp = job_dir / "exit.json.tmp"
    with tmp.open("w") as f:
        json.dump(result, f)
        f.flush()
        os.fsync(f.fileno())
    tmp.replace(job_dir / "exit.json")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
