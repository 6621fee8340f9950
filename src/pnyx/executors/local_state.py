"""The local executor's files: where they live, reading what a supervisor left (with bounds), the
locks and /proc lookups the supervisor uses, and the sweep of old attempts.

::

    ROOT/             0711 root    (job uids must traverse it to reach their work directory)
      state/KEY/      0700 root    launch.marshal, claim, pid.json, exit.json, runner.log, output.log[.1]
                               (+ sealed: an SME workspace job, whose keys are never written here)
      work/KEY/       0700 job uid the sandbox's cwd (/job), with outputs/
      uids/UID.lock   0600 root    flock'ed by the supervisor running as UID
      slots/N.lock    0600 root    flock'ed by the supervisor of a running job (N < max jobs)
      slots/queue.lock, slots/wake  the queue of supervisors waiting for a slot, and their doorbell
      spawner.log     0600 root    the warm spawner's own errors

Only the supervisor writes a state directory and no job can see one, yet every read here is
bounded and type-checked: garbage becomes ``CorruptState`` (that job FAILED), never a crash. The
supervisor (``local_runner``) imports this module: standard library only.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import select
import shutil
import signal
import stat
from dataclasses import dataclass
from pathlib import Path

STATE_MAX_BYTES = 64 << 10
TAIL_BYTES_PER_LINE = 1024
TAIL_MAX_BYTES = 1 << 20
PID_MAX = 1 << 22  # the kernel's ceiling for pid_max
REASONS = frozenset({"exited", "time-limit", "cancelled", "failed-to-start", "keys-lost"})
LOCK_FLAGS = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
SWEEP_LIMIT = 1000  # attempts removed per sweep at most (the next sweep goes on)
SLOT_RECHECK_S = 2.0  # a supervisor killed outright frees its slot without ringing: look again anyway


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

    @property
    def slot_locks(self) -> Path:
        return self.root / "slots"


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
    started: float | None  # None: waiting for a slot


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
        started=None if fields.get("started", 0) is None else _time(fields, "started"),
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
        fields = proc_stat(pid)
    except OSError:
        return None
    if len(fields) < 20 or fields[0] in (b"Z", b"X"):
        return None
    return int(fields[19])


def supervisor_alive(record: PidRecord) -> bool:
    return proc_start_ticks(record.pid) == record.start_ticks


def signal_supervisor(record: PidRecord, sig: signal.Signals) -> None:
    """Through a pidfd: the process checked is the process signalled, even if the pid is reused."""
    try:
        fd = os.pidfd_open(record.pid)
    except ProcessLookupError:
        return
    try:
        if supervisor_alive(record):
            signal.pidfd_send_signal(fd, sig)
    except ProcessLookupError:
        pass
    finally:
        os.close(fd)


def write_private(path: Path, data: bytes) -> None:
    """Atomically, 0600, never through a symlink."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    tmp.replace(path)


def proc_stat(pid: int | str) -> list[bytes]:
    """The fields of /proc/PID/stat after the command name (which may hold spaces and parentheses)."""
    with open(f"/proc/{pid}/stat", "rb") as f:
        return f.read(4096).rsplit(b")", 1)[-1].split()


def sandbox_processes(outer: int) -> tuple[int | None, list[int]]:
    """The init of the pid namespace bwrap (``outer``) created, and every other process in it."""
    pids = [int(name) for name in os.listdir("/proc") if name.isdigit()]
    init = next((p for p in pids if _ppid(p) == outer), None)
    namespace = _pid_namespace(init) if init else None
    if namespace is None:
        return init, []
    return init, [p for p in pids if p != init and _pid_namespace(p) == namespace]


def _ppid(pid: int) -> int | None:
    try:
        return int(proc_stat(pid)[1])
    except (OSError, IndexError, ValueError):
        return None


def _pid_namespace(pid: int) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/ns/pid")
    except OSError:
        return None


def try_lock(directory: str, name: str, held: list[int]) -> bool:
    """A non-blocking ``flock`` on DIRECTORY/NAME, kept in ``held`` (released when the process ends)."""
    fd = os.open(os.path.join(directory, name), LOCK_FLAGS, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return False
    held.append(fd)
    return True


def take_slot(directory: str, slots: int, held: list[int]) -> None:
    """Wait, asleep, for one of ``slots`` job slots (``N.lock``), then keep it in ``held``. Waiters
    queue on ``queue.lock`` (a blocking flock); the one holding it sleeps on the ``wake`` FIFO, rung
    by every supervisor that frees a slot (``wake_next``), and looks again every SLOT_RECHECK_S.
    A signal handler that raises (the supervisor's cancel) ends the wait."""
    gate = os.open(os.path.join(directory, "queue.lock"), LOCK_FLAGS, 0o600)
    try:
        fcntl.flock(gate, fcntl.LOCK_EX)
        path = os.path.join(directory, "wake")
        if not os.path.exists(path):
            os.mkfifo(path, 0o600)  # under the gate: made once
        wake = os.open(path, os.O_RDWR | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC)  # before looking
        try:
            if not stat.S_ISFIFO(os.fstat(wake).st_mode):
                raise OSError(f"{path} is not a FIFO")
            while not any(try_lock(directory, f"{i}.lock", held) for i in range(slots)):
                if select.select([wake], [], [], SLOT_RECHECK_S)[0]:
                    os.read(wake, 4096)
        finally:
            os.close(wake)
    finally:
        os.close(gate)


def wake_next(directory: str) -> None:
    """Ring the waiters' doorbell (a slot is free); nothing when nobody waits (ENXIO)."""
    try:
        fd = os.open(os.path.join(directory, "wake"), os.O_WRONLY | os.O_NONBLOCK | os.O_NOFOLLOW)
    except OSError:
        return
    with contextlib.suppress(BlockingIOError):  # full of rings already
        os.write(fd, b".")
    os.close(fd)


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
    for sub, mode in (("", 0o711), ("state", 0o700), ("work", 0o711), ("uids", 0o700), ("slots", 0o700)):
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


def sweep(layout: Layout, *, retention_s: float, now: float, limit: int = SWEEP_LIMIT) -> list[str]:
    """Delete the work and state directories of attempts over ``retention_s`` old (the keys). An
    attempt is old when its state directory has not changed for that long (writing exit.json changes
    it) and it has an exit record or its supervisor is gone; never while its supervisor lives (queued
    or running), never when its record cannot be vouched for. Then work directories without state
    (a sweep cut short). There is no disk quota: this only bounds how long a job's files stay."""
    removed: list[str] = []
    for key in _names(layout.root / "state"):
        if len(removed) >= limit:
            break
        if _expired(layout.state(key), retention_s, now):
            shutil.rmtree(layout.work(key), ignore_errors=True)  # fd-based: no symlink followed
            shutil.rmtree(layout.state(key), ignore_errors=True)
            removed.append(key)
    for key in _names(layout.root / "work"):
        if not os.path.lexists(layout.state(key)):
            shutil.rmtree(layout.work(key), ignore_errors=True)
    return removed


def _names(directory: Path) -> list[str]:
    try:
        return sorted(os.listdir(directory))
    except OSError:
        return []


def _expired(state: Path, retention_s: float, now: float) -> bool:
    try:
        st = os.lstat(state)
        if not stat.S_ISDIR(st.st_mode) or now - st.st_mtime < retention_s:
            return False
        if read_bounded(state / "exit.json") is not None:
            return True
        data = read_bounded(state / "pid.json")
    except (OSError, CorruptState):
        return False
    if data is None:
        return True  # handed over long ago, never started
    try:
        record = parse_pid(data)
    except CorruptState:
        return False
    return not supervisor_alive(record)
