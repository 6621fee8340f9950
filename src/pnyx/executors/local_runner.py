"""Supervises one local job: ``python -I -S local_runner.py STATE_DIR``, or forks one detached
supervisor per STATE_DIR line it reads with ``--serve`` (the executor's warm spawner).

Lean on purpose: the standard library only (its locks and /proc helpers are ``local_state``'s), and
forked from the warm spawner, which imported it all once. STATE_DIR/launch.marshal
(``sandbox.launch_record``, root-only) says what to run. It claims the attempt (an exclusive
create: a second supervisor exits at once), publishes its pid (``started`` null: queued), waits for
one of the machine's job slots (``flock`` on ``slots/N.lock``), publishes its start, takes a job uid
(``uids/UID.lock``), makes the work directory that uid's, and forks the job in a new session: drop
to the uid (``setgroups([])``, ``setresgid``, ``setresuid``), rlimits, exec bwrap (``--seccomp`` on
a pipe). Output comes through a pipe into STATE_DIR/output.log, capped. On the time limit (counted
from the start, not the wait) or SIGTERM (cancel) it sends SIGTERM to every process in the job's pid
namespace, then SIGKILL to its init (the kernel kills the rest), and writes STATE_DIR/exit.json
atomically: the result comes from this process alone, never from the job, and survives the
dispatcher (nothing lost, nothing run twice). ``local_job`` pumps, times and stops a started job.

An SME workspace's job (``sealed`` in the launch, ``local_sealed``) gets its data keys on the
hand-over line from the executor, in memory: they go on in a pipe its in-sandbox runner inherits at
``KEYS_FD`` (bwrap passes it on unread), and the job's real outputs directory is passed open
(``SEALED_FD``). A sealed launch handed without keys (relaunched after the executor restarted) ends
at once, ``keys-lost``.
"""

from __future__ import annotations

import base64
import marshal
import os
import resource
import signal
import sys
import time
import zlib

# The helpers it shares with the executor (standard library only). -I -S left the package off the path.
sys.path.append(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
from pnyx.executors.local_job import CANCELLED, LOG_FLAGS, Job
from pnyx.executors.local_mounts import (
    KEYS_FD,
    SEALED_FD,
    StageError,
    link_inputs,
    pipe_holding,
    stage,
    with_data,
)
from pnyx.executors.local_state import proc_stat, take_slot, try_lock, wake_next

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, NoReturn

FAILED_TO_START_EXIT = 127
LAUNCH_MAX_BYTES = 1 << 20
WAITING: list[bool] = []  # set while queued for a slot: SIGTERM then raises Cancelled


class NoFreeUid(Exception):
    """Every uid in the range runs a job."""


class Cancelled(Exception):
    """SIGTERM while the job waited for a slot: it never started."""


class Launch:
    """launch.marshal, typed (``sandbox.launch_record`` made it)."""

    def __init__(self, raw: dict[str, Any]) -> None:
        self.argv = [str(a) for a in raw["argv"]]
        self.env = {str(k): str(v) for k, v in raw["env"].items()}
        self.work_dir, self.sandboxed = str(raw["work_dir"]), bool(raw["sandboxed"])
        self.uids = (int(raw["uids"][0]), int(raw["uids"][1])) if raw["uids"] else None
        self.uid_locks, self.slot_locks = str(raw["uid_locks"]), str(raw["slot_locks"])
        self.slots = max(1, int(raw["slots"]))
        self.seccomp = bytes(raw["seccomp"]) if raw["seccomp"] else None
        self.hosts = bytes(raw.get("hosts") or b"")  # the sandbox's /etc/hosts
        self.rlimits = {str(k): int(v) for k, v in raw["rlimits"].items()}
        self.time_limit_s, self.grace_s = float(raw["time_limit_s"]), float(raw["grace_s"])
        self.log_bytes = int(raw["log_bytes"])
        self.stage_root = str(raw.get("stage_root") or "")  # records older than inputs lack these
        self.stage = [(str(s), str(at), str(d), bool(idmap)) for s, at, d, idmap in raw.get("stage") or ()]
        self.links = [(str(target), str(name)) for target, name in raw.get("links") or ()]
        self.sealed = bool(raw.get("sealed"))  # an SME workspace's job: its keys come by the hand-over
        self.keys: bytes | None = None  # its keys document, in memory only (``supervise``)


def main(argv: list[str]) -> int:
    if argv == ["--serve"]:
        return serve()
    if len(argv) != 1:
        print("usage: python -I -S local_runner.py STATE_DIR | --serve", file=sys.stderr)
        return 2
    return supervise(argv[0])


def supervise(state: str, keys: bytes | None = None) -> int:
    """``keys``: a sealed job's keys document, from the hand-over line (memory only). A sealed job
    handed without them (relaunched after the executor restarted) fails without running."""
    signal.signal(signal.SIGTERM, _on_sigterm)
    if not _claim(state):
        return 0  # another supervisor already runs this attempt: running it twice is never right
    _publish_pid(state, None)
    launch = _read_launch(state)
    launch.keys = keys if launch.sealed else None
    held = [os.open(os.path.join(state, "output.log"), LOG_FLAGS, 0o600)]  # then the slot, the uid
    try:
        lost = launch.sealed and not keys
        started, exit_code, reason = _keys_lost(held[0]) if lost else _run_job(launch, state, held)
        _finish(state, started, exit_code=exit_code, reason=reason)
    finally:
        for fd in held:
            os.close(fd)
        wake_next(launch.slot_locks)  # after exit.json: the next job starts after this one ended
    return 0


def _keys_lost(log: int) -> tuple[float, int, str]:
    os.write(log, b"pnyx: not started: the data keys of this SME workspace job were lost (memory only)\n")
    return time.time(), FAILED_TO_START_EXIT, "keys-lost"


def _on_sigterm(_signum: int, _frame: object) -> None:
    CANCELLED.append(True)
    if WAITING:
        raise Cancelled  # out of the blocking flock or select (PEP 475: not retried)


def serve() -> int:
    """Fork a detached supervisor per line on stdin, ``STATE_DIR`` or ``STATE_DIR<TAB>KEYS`` (a sealed
    job's keys document, base64: it passes in memory, never a file), cheaper than starting Python per
    job; the supervisors do not depend on this process. Ends at end of input."""
    for line in sys.stdin.buffer:
        state, _tab, keys = line.rstrip(b"\n").partition(b"\t")
        if state:
            _fork_supervisor(state.decode(), base64.b64decode(keys) if keys else None)
        del line, keys
    return 0


def _fork_supervisor(state: str, keys: bytes | None) -> None:
    """Fork twice: the supervisor, in a session of its own, belongs to no one and outlives the
    spawner and the dispatcher. Its errors go to STATE_DIR/runner.log."""
    log = os.open(os.path.join(state, "runner.log"), LOG_FLAGS | os.O_CLOEXEC, 0o600)
    try:
        pid = os.fork()
    except OSError as exc:  # the executor fails the job when no claim comes (its log says why)
        os.write(log, f"cannot fork a supervisor: {exc}\n".encode())
        pid = -1
    if pid == 0:
        _supervisor_child(state, log, keys)
    os.close(log)
    if pid > 0:
        os.waitpid(pid, 0)  # it exits as soon as the supervisor has forked


def _supervisor_child(state: str, log: int, keys: bytes | None) -> NoReturn:
    code = 1
    try:
        if os.fork() > 0:
            os._exit(0)
        os.setsid()
        devnull = os.open(os.devnull, os.O_RDWR)
        for fd, to in ((devnull, 0), (devnull, 1), (log, 2)):
            os.dup2(fd, to)
        code = supervise(state, keys)
    except BaseException as exc:  # never back into the spawner's loop
        os.write(2, f"supervisor: {exc!r}\n".encode())
    finally:
        os._exit(code)


def _claim(state: str) -> bool:
    try:
        os.close(os.open(os.path.join(state, "claim"), os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    except FileExistsError:
        return False
    return True


def _publish_pid(state: str, started: float | None) -> None:
    """pid.json: this process (start time: tells it from a reused pid); ``started`` null: queued."""
    when = "null" if started is None else repr(started)
    record = f'{{"pid": {os.getpid()}, "start_ticks": {int(proc_stat("self")[19])}, "started": {when}}}'
    _write_atomically(os.path.join(state, "pid.json"), record, durable=False)  # dies with the machine


def _read_launch(state: str) -> Launch:
    with open(os.path.join(state, "launch.marshal"), "rb") as f:
        return Launch(marshal.loads(f.read(LAUNCH_MAX_BYTES)))  # noqa: S302 - root-only, ours


def _run_job(launch: Launch, state: str, held: list[int]) -> tuple[float, int, str]:
    """(started, exit code, reason); a job cancelled while queued starts and ends at once."""
    try:
        _take_slot(launch, held)
        started = time.time()
        _publish_pid(state, started)
        uid = _take_uid(launch, os.path.basename(state), held)
        job = Job(launch, (held[0], os.path.join(state, "output.log")), *_start(launch, uid))
    except Cancelled:
        return time.time(), -int(signal.SIGTERM), "cancelled"
    except (OSError, NoFreeUid) as exc:
        os.write(held[0], f"pnyx: cannot start the job: {exc}\n".encode())
        return time.time(), FAILED_TO_START_EXIT, "failed-to-start"
    return started, *job.supervise()


def _take_slot(launch: Launch, held: list[int]) -> None:
    """One of the machine's job slots, held until the job is over (``local_state.take_slot``: the
    wait sleeps); SIGTERM (cancel) raises Cancelled out of it."""
    WAITING.append(True)
    try:
        if CANCELLED:
            raise Cancelled
        take_slot(launch.slot_locks, launch.slots, held)
    finally:
        WAITING.clear()


def _take_uid(launch: Launch, key: str, held: list[int]) -> int | None:
    """A uid no other running job holds, or None to run as ourselves (the sandbox off, or a
    supervisor that is not root)."""
    if launch.uids is None or os.geteuid() != 0:
        return None
    first, count = launch.uids
    start = zlib.crc32(key.encode()) % count
    for i in range(count):
        uid = first + (start + i) % count
        if try_lock(launch.uid_locks, f"{uid}.lock", held):
            return uid
    raise NoFreeUid(f"every job uid in {first}..{first + count - 1} is in use")


def _start(launch: Launch, uid: int | None) -> tuple[int, int]:
    """Fork and exec the job; its pid and the read end of its output pipe. Raises OSError if the
    exec failed (reported by the child through a close-on-exec pipe)."""
    for path in (launch.work_dir, os.path.join(launch.work_dir, "outputs")):
        os.makedirs(path, 0o700, exist_ok=True)
        if uid is not None:
            os.chown(path, uid, uid, follow_symlinks=False)
    link_inputs(launch.work_dir, launch.links)
    argv, passed = with_data(launch.argv, launch.seccomp, launch.hosts)
    sealed = _sealed_fds(launch)
    launch.keys = None  # in the pipe now; nothing of them stays with the supervisor
    (out_r, out_w), (err_r, err_w) = os.pipe(), os.pipe()
    pid = os.fork()
    if pid == 0:
        _exec_job(launch, argv, uid, (out_w, err_w, passed, sealed))
    for fd in (out_w, err_w, *passed, *(fd for fd, _at in sealed)):
        os.close(fd)
    with os.fdopen(err_r, "rb") as errors:
        failure = errors.read(1024)
    if failure:
        os.close(out_r)
        os.waitpid(pid, 0)
        raise OSError(failure.decode(errors="replace"))
    return pid, out_r


def _sealed_fds(launch: Launch) -> list[tuple[int, int]]:
    """A sealed job's descriptors for its runner, each with the number the runner's argv names: its
    keys, a pipe the runner reads whole (no process of the sandbox that the command could read holds
    them: bwrap passes the pipe on unread, ``local_sealed``), and its real outputs directory, open
    (the runner writes the sealed outputs there; it is bound nowhere in the sandbox, so no plaintext
    can be written to the disk)."""
    if not launch.keys:  # not sealed (a sealed launch without keys never gets here: keys-lost)
        return []
    outputs = os.path.join(launch.work_dir, "outputs")
    flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
    return [(pipe_holding(launch.keys), KEYS_FD), (os.open(outputs, flags), SEALED_FD)]


def _exec_job(
    launch: Launch, argv: list[str], uid: int | None, fds: tuple[int, int, list[int], list[tuple[int, int]]]
) -> NoReturn:
    """In the child: new session, stdio, drop to the job's uid, rlimits, default signals, exec."""
    out, errors, passed, sealed = fds
    try:
        os.setsid()
        for fd in passed:  # bwrap's --seccomp and --ro-bind-data pipes
            os.set_inheritable(fd, True)
        for fd, at in sealed:  # inheritable, at the numbers the runner's argv names
            os.dup2(fd, at)
        os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
        os.dup2(out, 1)
        os.dup2(out, 2)
        os.chdir("/" if launch.sandboxed else launch.work_dir)
        if launch.stage:
            stage(launch.stage_root, launch.stage, uid)
        if uid is not None:
            os.setgroups([])
            os.setresgid(uid, uid, uid)
            os.setresuid(uid, uid, uid)
        for name, value in launch.rlimits.items():  # lower, never raise
            kind = getattr(resource, name)
            hard = resource.getrlimit(kind)[1]
            cap = value if hard == resource.RLIM_INFINITY else min(value, hard)
            resource.setrlimit(kind, (cap, cap))
        for sig in (signal.SIGTERM, signal.SIGPIPE, signal.SIGXFSZ):
            signal.signal(sig, signal.SIG_DFL)
        os.execvpe(argv[0], argv, launch.env)  # noqa: S606 - an argv, never a shell
    except BaseException as exc:  # reported to the parent, then exit
        os.write(errors, (str(exc) if isinstance(exc, StageError) else f"{argv[0]}: {exc}").encode())
    finally:
        os._exit(FAILED_TO_START_EXIT)


def _finish(state: str, started: float, *, exit_code: int, reason: str) -> None:
    ended = time.time()
    result = (  # reason is one of four fixed words; floats' repr is valid JSON
        f'{{"exit_code": {int(exit_code)}, "reason": "{reason}", "started": {started!r}, "ended": {ended!r}}}'
    )
    _write_atomically(os.path.join(state, "exit.json"), result, durable=True)


def _write_atomically(path: str, text: str, *, durable: bool) -> None:
    tmp = path + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    try:
        os.write(fd, text.encode())
        if durable:
            os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
