"""The local executor's files: where they live, and reading what a supervisor left, with bounds.

::

    ROOT/             0711 root    (job uids must traverse it to reach their work directory)
      state/KEY/      0700 root    launch.marshal, claim, pid.json, exit.json, runner.log, output.log[.1]
      work/KEY/       0700 job uid the sandbox's cwd (/job), with outputs/
      uids/UID.lock   0600 root    flock'ed by the supervisor running as UID
      spawner.log     0600 root    the warm spawner's own errors

Only the supervisor writes a state directory and no job can see one, yet every read here is
bounded and type-checked: garbage becomes ``CorruptState`` (that job FAILED), never a crash.
"""

from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path

STATE_MAX_BYTES = 64 << 10
TAIL_BYTES_PER_LINE = 1024
TAIL_MAX_BYTES = 1 << 20
PID_MAX = 1 << 22  # the kernel's ceiling for pid_max
REASONS = frozenset({"exited", "time-limit", "cancelled", "failed-to-start"})


class CorruptState(ValueError):
    """A state file that is not what the supervisor writes."""


@dataclass(frozen=True, slots=True)
class Layout:
    root: Path

    def state(self, key: str) -> Path:
        return self.root / "state" / key

    def work(self, key: str) -> Path:
        return self.root / "work" / key

    @property
    def uid_locks(self) -> Path:
        return self.root / "uids"


@dataclass(frozen=True, slots=True, kw_only=True)
class ExitRecord:
    exit_code: int
    reason: str
    started: float
    ended: float


@dataclass(frozen=True, slots=True, kw_only=True)
class PidRecord:
    pid: int
    start_ticks: int  # field 22 of /proc/PID/stat: tells this supervisor from a reused pid
    started: float


def read_bounded(path: Path, cap: int = STATE_MAX_BYTES) -> bytes | None:
    """The file's bytes (None when absent); a symlink, a non-file or more than ``cap`` is corrupt."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise CorruptState(f"{path.name}: {exc.strerror}") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise CorruptState(f"{path.name} is not a regular file")
        data = _read_up_to(fd, cap + 1)
    finally:
        os.close(fd)
    if len(data) > cap:
        raise CorruptState(f"{path.name} is larger than {cap} bytes")
    return data


def _read_up_to(fd: int, limit: int) -> bytes:
    chunks, size = [], 0
    while size < limit:
        chunk = os.read(fd, limit - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def parse_exit(data: bytes) -> ExitRecord:
    fields = _object(data, "exit.json")
    reason = fields.get("reason")
    if reason not in REASONS:
        raise CorruptState(f"exit.json: unknown reason {str(reason)[:40]!r}")
    return ExitRecord(
        exit_code=_int(fields, "exit_code", -255, 255),
        reason=str(reason),
        started=_time(fields, "started"),
        ended=_time(fields, "ended"),
    )


def parse_pid(data: bytes) -> PidRecord:
    fields = _object(data, "pid.json")
    return PidRecord(
        pid=_int(fields, "pid", 1, PID_MAX),
        start_ticks=_int(fields, "start_ticks", 0, 1 << 63),
        started=_time(fields, "started"),
    )


def _object(data: bytes, name: str) -> dict[str, object]:
    try:
        value = json.loads(data)
    except (ValueError, RecursionError):
        raise CorruptState(f"{name} is not JSON") from None
    if not isinstance(value, dict):
        raise CorruptState(f"{name} is not a JSON object")
    return value


def _int(fields: dict[str, object], key: str, low: int, high: int) -> int:
    value = fields.get(key)
    if type(value) is not int or not low <= value <= high:
        raise CorruptState(f"{key} is not an integer in [{low}, {high}]")
    return value


def _time(fields: dict[str, object], key: str) -> float:
    value = fields.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < 1e11:
        raise CorruptState(f"{key} is not a time")
    return float(value)


def proc_start_ticks(pid: int) -> int | None:
    """The start time of a live (non-zombie) process, None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read(4096).rsplit(b")", 1)[-1].split()
    except OSError:
        return None
    if len(fields) < 20 or fields[0] in (b"Z", b"X"):
        return None
    return int(fields[19])


def tail(path: Path, lines: int) -> str:
    """The last ``lines`` lines, reading at most ``lines`` KiB (1 MiB at most) from the end."""
    cap = min(TAIL_MAX_BYTES, max(1, lines) * TAIL_BYTES_PER_LINE)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return ""
    try:
        st = os.fstat(fd)
        start = max(0, st.st_size - cap)
        chunk = os.pread(fd, cap, start) if stat.S_ISREG(st.st_mode) else b""
    finally:
        os.close(fd)
    text = chunk.decode(errors="replace").splitlines()
    if start and len(text) > 1:
        text = text[1:]  # the first line is cut: drop it unless it is all there is
    return "\n".join(text[-lines:]) if lines > 0 else ""


def prepare_root(root: Path, *, job_uids: bool) -> str | None:
    """Create the layout; return why it cannot hold jobs (None when it can)."""
    for sub, mode in (("", 0o711), ("state", 0o700), ("work", 0o711), ("uids", 0o700)):
        path = root / sub if sub else root
        path.mkdir(mode=mode, parents=True, exist_ok=True)
        problem = _owned_dir(path)
        if problem:
            return problem
        os.chmod(path, mode)
    return _unreachable(root) if job_uids else None


def _owned_dir(path: Path) -> str | None:
    st = os.lstat(path)
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid() or st.st_mode & 0o022:
        return f"the job root {path} must be a directory of uid {os.geteuid()}, not group/world-writable"
    return None


def _unreachable(root: Path) -> str | None:
    """Job uids bind their work directory from the host: every ancestor must be searchable."""
    ancestor = unsearchable_ancestor(root)
    if ancestor is None:
        return None
    return (
        f"job uids cannot reach the job root {root}: {ancestor} is not searchable by others; "
        "set PNYX_JOB_ROOT elsewhere (default /var/tmp/pnyx-jobs)"
    )


def unsearchable_ancestor(path: Path) -> Path | None:
    """The first directory above ``path`` that other uids cannot search, if any."""
    for ancestor in reversed(path.resolve().parents):
        if not os.stat(ancestor).st_mode & stat.S_IXOTH:
            return ancestor
    return None
