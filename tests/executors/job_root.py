"""A job root the sandbox can use: outside pytest's 0700 tmp tree, so job uids can reach their work
directory (the executor refuses a root they cannot reach)."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

JOB_PYTHON = "python3"  # on the sandbox's PATH (/usr/bin); the server's venv is not in the sandbox


@contextmanager
def temporary_job_root() -> Iterator[Path]:
    base = Path(tempfile.mkdtemp(prefix="pnyx-test-jobs-", dir="/var/tmp"))
    base.chmod(0o711)
    try:
        yield base / "jobs"
    finally:
        shutil.rmtree(base, ignore_errors=True)


def running(cmdline: str) -> list[int]:
    """Pids of the processes whose command line is exactly ``cmdline`` (words joined by spaces)."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and _cmdline(proc) == cmdline:
                found.append(int(proc.name))
        except OSError:
            continue
    return found


def uids_of(pid: int) -> list[int]:
    """Real, effective, saved and filesystem uid, as /proc/PID/status shows them from outside."""
    line = next(
        x for x in (Path("/proc") / str(pid) / "status").read_text().splitlines() if x.startswith("Uid:")
    )
    return [int(u) for u in line.split()[1:]]


def _cmdline(proc: Path) -> str:
    return (proc / "cmdline").read_bytes().rstrip(b"\0").replace(b"\0", b" ").decode(errors="replace")
