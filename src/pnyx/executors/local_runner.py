"""Supervises one local job: ``python -I -S local_runner.py [--detach] STATE_DIR``, or forks one
supervisor per STATE_DIR line it reads with ``--serve`` (the executor's warm spawner).

Lean on purpose (builtin and C modules plus ``signal``; no json, subprocess, pathlib or typing):
it starts for every job. STATE_DIR/launch.marshal (``sandbox.launch_record``, root-only) says what
to run. It claims the attempt (an exclusive create: a second supervisor exits at once), publishes
its pid and start time, takes a job uid (``flock`` on ``uids/UID.lock``), makes the work directory
that uid's, and forks the job in a new session: drop to the uid (``setgroups([])``,
``setresgid``, ``setresuid``), rlimits, exec bwrap. Output comes through a pipe into
STATE_DIR/output.log, capped. On the time limit or SIGTERM (cancel) it sends SIGTERM to every
process in the job's pid namespace, then SIGKILL to its init (the kernel kills the rest), and writes
STATE_DIR/exit.json atomically: the result comes from this process alone, never from the job, and
survives the dispatcher (nothing is lost, nothing runs twice).
"""

from __future__ import annotations

import fcntl
import marshal
import os
import resource
import select
import signal
import sys
import time
import zlib

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


class NoFreeUid(Exception):
    """Every uid in the range runs a job."""


class Launch:
    """launch.marshal, typed (``sandbox.launch_record`` made it)."""

    def __init__(self, raw: dict[str, Any]) -> None:
        self.argv = [str(a) for a in raw["argv"]]
        self.env = {str(k): str(v) for k, v in raw["env"].items()}
        self.work_dir = str(raw["work_dir"])
        self.sandboxed = bool(raw["sandboxed"])
        self.uids = (int(raw["uids"][0]), int(raw["uids"][1])) if raw["uids"] else None
        self.uid_locks = str(raw["uid_locks"])
        self.rlimits = {str(k): int(v) for k, v in raw["rlimits"].items()}
        self.time_limit_s = float(raw["time_limit_s"])
        self.log_bytes = int(raw["log_bytes"])
        self.grace_s = float(raw["grace_s"])


def main(argv: list[str]) -> int:
    if argv == ["--serve"]:
        return serve()
    detach = argv[:1] == ["--detach"]
    args = argv[1:] if detach else argv
    if len(args) != 1:
        print("usage: python -I -S local_runner.py [--detach] STATE_DIR | --serve", file=sys.stderr)
        return 2
    if detach:
        _detach()
    signal.signal(signal.SIGTERM, lambda _signum, _frame: CANCELLED.append(True))
    state = args[0]
    if not _claim(state):
        return 0  # another supervisor already runs this attempt: running it twice is never right
    started = time.time()
    _publish_pid(state, started)
    exit_code, reason = _run_job(_read_launch(state), state)
    _finish(state, started, exit_code=exit_code, reason=reason)
    return 0


def serve() -> int:
    """Fork a detached supervisor per STATE_DIR line on stdin (cheaper than starting Python per job;
    the supervisors do not depend on this process). Ends at end of input."""
    for line in sys.stdin.buffer:
        state = line.rstrip(b"\n").decode()
        if state:
            _fork_supervisor(state)
    return 0


def _fork_supervisor(state: str) -> None:
    try:
        pid = os.fork()
    except OSError as exc:  # the executor fails the job when no claim comes (its log says why)
        with open(os.path.join(state, "runner.log"), "ab") as log:
            log.write(f"cannot fork a supervisor: {exc}\n".encode())
        return
    if pid == 0:
        _supervisor_child(state)
    os.waitpid(pid, 0)  # it exits as soon as the supervisor has detached


def _supervisor_child(state: str) -> NoReturn:
    code = 1
    try:
        log = os.open(os.path.join(state, "runner.log"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.dup2(log, 2)
        code = main(["--detach", state])
    except BaseException as exc:  # never back into the spawner's loop
        os.write(2, f"supervisor: {exc!r}\n".encode())
    finally:
        os._exit(code)


def _detach() -> None:
    """Fork; the parent exits at once: the supervisor belongs to no one and outlives a dispatcher."""
    if os.fork() > 0:
        os._exit(0)
    os.setsid()
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1):
        os.dup2(devnull, fd)


def _claim(state: str) -> bool:
    try:
        os.close(os.open(os.path.join(state, "claim"), os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    except FileExistsError:
        return False
    return True


def _publish_pid(state: str, started: float) -> None:
    with open("/proc/self/stat", "rb") as f:
        ticks = int(f.read().rsplit(b")", 1)[-1].split()[19])  # tells this process from a reused pid
    record = f'{{"pid": {os.getpid()}, "start_ticks": {ticks}, "started": {started!r}}}'
    _write_atomically(os.path.join(state, "pid.json"), record, durable=False)  # dies with the machine


def _read_launch(state: str) -> Launch:
    with open(os.path.join(state, "launch.marshal"), "rb") as f:
        return Launch(marshal.loads(f.read(LAUNCH_MAX_BYTES)))  # noqa: S302 - root-only, ours


def _run_job(launch: Launch, state: str) -> tuple[int, str]:
    held = [os.open(os.path.join(state, "output.log"), LOG_FLAGS, 0o600)]  # and the uid lock
    try:
        return _start_and_supervise(launch, state, held)
    finally:
        for fd in held:
            os.close(fd)


def _start_and_supervise(launch: Launch, state: str, held: list[int]) -> tuple[int, str]:
    try:
        uid = _take_uid(launch, os.path.basename(state), held)
        job = Job(launch, (held[0], os.path.join(state, "output.log")), *_start(launch, uid))
    except (OSError, NoFreeUid) as exc:
        os.write(held[0], f"pnyx: cannot start the job: {exc}\n".encode())
        return FAILED_TO_START_EXIT, "failed-to-start"
    return job.supervise()


def _take_uid(launch: Launch, key: str, held: list[int]) -> int | None:
    """A uid no other running job holds (a flock, released when this process ends), or None to
    run as ourselves (the sandbox off, or a supervisor that is not root)."""
    if launch.uids is None or os.geteuid() != 0:
        return None
    first, count = launch.uids
    start = zlib.crc32(key.encode()) % count
    for i in range(count):
        uid = first + (start + i) % count
        lock = os.path.join(launch.uid_locks, f"{uid}.lock")
        fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        held.append(fd)
        return uid
    raise NoFreeUid(f"every job uid in {first}..{first + count - 1} is in use")


def _start(launch: Launch, uid: int | None) -> tuple[int, int]:
    """Fork and exec the job; its pid and the read end of its output pipe. Raises OSError if the
    exec failed (reported by the child through a close-on-exec pipe)."""
    _make_work_dir(launch.work_dir, uid)
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        _exec_job(launch, uid, out_w, err_w)
    os.close(out_w)
    os.close(err_w)
    with os.fdopen(err_r, "rb") as errors:
        failure = errors.read(1024)
    if failure:
        os.close(out_r)
        os.waitpid(pid, 0)
        raise OSError(failure.decode(errors="replace"))
    return pid, out_r


def _exec_job(launch: Launch, uid: int | None, out: int, errors: int) -> NoReturn:
    """In the child: new session, stdio, drop to the job's uid, rlimits, default signals, exec."""
    try:
        os.setsid()
        os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
        os.dup2(out, 1)
        os.dup2(out, 2)
        os.chdir("/" if launch.sandboxed else launch.work_dir)
        if uid is not None:
            os.setgroups([])
            os.setresgid(uid, uid, uid)
            os.setresuid(uid, uid, uid)
        _apply_limits(launch.rlimits)
        for sig in (signal.SIGTERM, signal.SIGPIPE, signal.SIGXFSZ):
            signal.signal(sig, signal.SIG_DFL)
        os.execvpe(launch.argv[0], launch.argv, launch.env)  # noqa: S606 - an argv, never a shell
    except BaseException as exc:  # reported to the parent, then exit
        os.write(errors, f"{launch.argv[0]}: {exc}".encode())
    finally:
        os._exit(FAILED_TO_START_EXIT)


def _make_work_dir(work: str, uid: int | None) -> None:
    for path in (work, os.path.join(work, "outputs")):
        os.makedirs(path, 0o700, exist_ok=True)
        if uid is not None:
            os.chown(path, uid, uid, follow_symlinks=False)


def _apply_limits(rlimits: dict[str, int]) -> None:
    """In the child, after it dropped to the job's uid and before exec: lower, never raise."""
    for name, value in rlimits.items():
        kind = getattr(resource, name)
        hard = resource.getrlimit(kind)[1]
        cap = value if hard == resource.RLIM_INFINITY else min(value, hard)
        resource.setrlimit(kind, (cap, cap))


class Job:
    """One started job: pump its output into the log, wait, stop it. The log rotates once it holds
    half of ``log_bytes`` (output.log -> output.log.1): the newest output is kept, the disk bounded."""

    def __init__(self, launch: Launch, log: tuple[int, str], pid: int, out: int) -> None:
        self.pid, self.out, (self.log, self.log_path) = pid, out, log
        self.sandboxed, self.grace = launch.sandboxed, launch.grace_s
        self.rotate_at, self.written = max(1024, launch.log_bytes // 2), 0
        self.deadline = time.monotonic() + launch.time_limit_s
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
        code = self._wait_exit()
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

    def _exited(self) -> bool:
        if self.status is None and (reaped := os.waitpid(self.pid, os.WNOHANG))[0]:
            self.status = reaped[1]
        return self.status is not None

    def _wait_exit(self) -> int:
        if self.status is None:
            self.status = os.waitpid(self.pid, 0)[1]
        return os.waitstatus_to_exitcode(self.status)

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
        with open(f"/proc/{pid}/stat", "rb") as f:
            return int(f.read().rsplit(b")", 1)[-1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


def _pid_namespace(pid: int) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/ns/pid")
    except OSError:
        return None


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
