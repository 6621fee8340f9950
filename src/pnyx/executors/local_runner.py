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
dispatcher (nothing lost, nothing run twice).
"""

from __future__ import annotations

import marshal
import os
import resource
import select
import signal
import sys
import time
import zlib

# The helpers it shares with the executor (standard library only). -I -S left the package off the path.
sys.path.append(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
from pnyx.executors.local_mounts import StageError, link_inputs, stage, with_data
from pnyx.executors.local_state import proc_stat, sandbox_processes, take_slot, try_lock, wake_next

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, NoReturn

TIME_LIMIT_EXIT = 124  # as timeout(1)
FAILED_TO_START_EXIT = 127
LAUNCH_MAX_BYTES = 1 << 20
READ_CHUNK = 1 << 16
DRAIN_S = 2.0
LOG_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW
CANCELLED: list[bool] = []  # set by the SIGTERM handler
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


def main(argv: list[str]) -> int:
    if argv == ["--serve"]:
        return serve()
    if len(argv) != 1:
        print("usage: python -I -S local_runner.py STATE_DIR | --serve", file=sys.stderr)
        return 2
    return supervise(argv[0])


def supervise(state: str) -> int:
    signal.signal(signal.SIGTERM, _on_sigterm)
    if not _claim(state):
        return 0  # another supervisor already runs this attempt: running it twice is never right
    _publish_pid(state, None)
    launch = _read_launch(state)
    held = [os.open(os.path.join(state, "output.log"), LOG_FLAGS, 0o600)]  # then the slot, the uid
    try:
        started, exit_code, reason = _run_job(launch, state, held)
        _finish(state, started, exit_code=exit_code, reason=reason)
    finally:
        for fd in held:
            os.close(fd)
        wake_next(launch.slot_locks)  # after exit.json: the next job starts after this one ended
    return 0


def _on_sigterm(_signum: int, _frame: object) -> None:
    CANCELLED.append(True)
    if WAITING:
        raise Cancelled  # out of the blocking flock or select (PEP 475: not retried)


def serve() -> int:
    """Fork a detached supervisor per STATE_DIR line on stdin (cheaper than starting Python per job;
    the supervisors do not depend on this process). Ends at end of input."""
    for line in sys.stdin.buffer:
        if state := line.rstrip(b"\n").decode():
            _fork_supervisor(state)
    return 0


def _fork_supervisor(state: str) -> None:
    """Fork twice: the supervisor, in a session of its own, belongs to no one and outlives the
    spawner and the dispatcher. Its errors go to STATE_DIR/runner.log."""
    log = os.open(os.path.join(state, "runner.log"), LOG_FLAGS | os.O_CLOEXEC, 0o600)
    try:
        pid = os.fork()
    except OSError as exc:  # the executor fails the job when no claim comes (its log says why)
        os.write(log, f"cannot fork a supervisor: {exc}\n".encode())
        pid = -1
    if pid == 0:
        _supervisor_child(state, log)
    os.close(log)
    if pid > 0:
        os.waitpid(pid, 0)  # it exits as soon as the supervisor has forked


def _supervisor_child(state: str, log: int) -> NoReturn:
    code = 1
    try:
        if os.fork() > 0:
            os._exit(0)
        os.setsid()
        devnull = os.open(os.devnull, os.O_RDWR)
        for fd, to in ((devnull, 0), (devnull, 1), (log, 2)):
            os.dup2(fd, to)
        code = supervise(state)
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
    (out_r, out_w), (err_r, err_w) = os.pipe(), os.pipe()
    pid = os.fork()
    if pid == 0:
        _exec_job(launch, argv, uid, (out_w, err_w, passed))
    for fd in (out_w, err_w, *passed):
        os.close(fd)
    with os.fdopen(err_r, "rb") as errors:
        failure = errors.read(1024)
    if failure:
        os.close(out_r)
        os.waitpid(pid, 0)
        raise OSError(failure.decode(errors="replace"))
    return pid, out_r


def _exec_job(launch: Launch, argv: list[str], uid: int | None, fds: tuple[int, int, list[int]]) -> NoReturn:
    """In the child: new session, stdio, drop to the job's uid, rlimits, default signals, exec."""
    out, errors, passed = fds
    try:
        os.setsid()
        for fd in passed:  # bwrap's --seccomp and --ro-bind-data pipes
            os.set_inheritable(fd, True)
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


class Job:
    """One started job: pump its output into the log, wait, stop it. The log rotates once it holds
    half of ``log_bytes`` (output.log -> output.log.1): the newest output is kept, the disk bounded."""

    def __init__(self, launch: Launch, log: tuple[int, str], pid: int, out: int) -> None:
        self.pid, self.out, (self.log, self.log_path) = pid, out, log
        self.sandboxed, self.grace = launch.sandboxed, launch.grace_s
        self.rotate_at, self.written = max(1024, launch.log_bytes // 2), 0
        self.deadline = time.monotonic() + launch.time_limit_s  # from the start, not the wait
        self.status: int | None = None
        self.wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        signal.set_wakeup_fd(wake_w)  # a SIGTERM wakes the poll at once
        self.poller = select.poll()
        for fd in (out, os.pidfd_open(pid), self.wake_r):
            self.poller.register(fd, select.POLLIN)
        self.open = True  # the output pipe has not reached end of file

    def supervise(self) -> tuple[int, str]:
        reason = self._wait()
        if reason != "exited":
            self._stop()
        if not self.sandboxed:  # what it left in its process group dies with it
            _kill(self.pid, signal.SIGKILL, group=True)
        self._drain()
        self._exited(block=True)
        code = os.waitstatus_to_exitcode(self.status or 0)
        return (TIME_LIMIT_EXIT if reason == "time-limit" else code), reason

    def _wait(self) -> str:
        while True:
            if CANCELLED:
                return "cancelled"
            remaining = self.deadline - time.monotonic()
            if remaining <= 0:
                return "time-limit"
            self._pump(min(remaining, 1.0))
            if self._exited():
                return "exited"

    def _exited(self, *, block: bool = False) -> bool:
        if self.status is None and (reaped := os.waitpid(self.pid, 0 if block else os.WNOHANG))[0]:
            self.status = reaped[1]
        return self.status is not None

    def _pump(self, timeout: float) -> None:
        for fd, _events in self.poller.poll(timeout * 1000):
            if fd == self.out:
                self._copy()
            elif fd == self.wake_r:
                os.read(fd, 64)

    def _copy(self) -> bool:
        """Move what the pipe holds into the log; False at end of file."""
        data = os.read(self.out, min(READ_CHUNK, self.rotate_at))  # so each file <= rotate_at
        if not data:
            self.poller.unregister(self.out)
            self.open = False
            return False
        if self.written and self.written + len(data) > self.rotate_at:
            os.replace(self.log_path, self.log_path + ".1")
            fresh = os.open(self.log_path, LOG_FLAGS, 0o600)
            os.dup2(fresh, self.log, inheritable=False)
            os.close(fresh)
            self.written = 0
        self.written += os.write(self.log, data)
        return True

    def _stop(self) -> None:
        """SIGTERM to the job's processes; SIGKILL after the grace period."""
        self._signal(signal.SIGTERM)
        deadline = time.monotonic() + self.grace
        while not self._exited() and time.monotonic() < deadline:
            self._pump(0.1)
        if not self._exited():
            self._signal(signal.SIGKILL)

    def _signal(self, sig: int) -> None:
        if not self.sandboxed:
            _kill(self.pid, sig, group=True)
            return
        init, members = sandbox_processes(self.pid)
        if sig == signal.SIGKILL:  # the namespace's init: the kernel kills everything in it
            members = [init, self.pid] if init else [self.pid]
        for pid in members:
            _kill(pid, sig)

    def _drain(self) -> None:
        deadline = time.monotonic() + DRAIN_S
        reader = select.poll()
        reader.register(self.out, select.POLLIN)
        while self.open and time.monotonic() < deadline:
            if reader.poll(max(0.0, deadline - time.monotonic()) * 1000) and not self._copy():
                return


def _kill(pid: int, sig: int, *, group: bool = False) -> None:
    try:  # noqa: SIM105 - no contextlib (see the module's docstring)
        (os.killpg if group else os.kill)(pid, sig)
    except ProcessLookupError:
        pass


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
