"""One started local job, seen from its supervisor (``local_runner``; standard library only): its
output pumped into the log (rotated once, so bounded), its time limit, its stop (SIGTERM to every
process of its pid namespace, then SIGKILL to the namespace's init after the grace period).
"""

from __future__ import annotations

import os
import select
import signal
import time

from pnyx.executors.local_state import sandbox_processes

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

TIME_LIMIT_EXIT = 124  # as timeout(1)
READ_CHUNK = 1 << 16
DRAIN_S = 2.0
LOG_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW
CANCELLED: list[bool] = []  # set by the supervisor's SIGTERM handler


class Job:
    """One started job: pump its output into the log, wait, stop it. The log rotates once it holds
    half of ``log_bytes`` (output.log -> output.log.1): the newest output is kept, the disk bounded."""

    def __init__(self, launch: Any, log: tuple[int, str], pid: int, out: int) -> None:
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
            kill(self.pid, signal.SIGKILL, group=True)
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
            kill(self.pid, sig, group=True)
            return
        init, members = sandbox_processes(self.pid)
        if sig == signal.SIGKILL:  # the namespace's init: the kernel kills everything in it
            members = [init, self.pid] if init else [self.pid]
        for pid in members:
            kill(pid, sig)

    def _drain(self) -> None:
        deadline = time.monotonic() + DRAIN_S
        reader = select.poll()
        reader.register(self.out, select.POLLIN)
        while self.open and time.monotonic() < deadline:
            if reader.poll(max(0.0, deadline - time.monotonic()) * 1000) and not self._copy():
                return


def kill(pid: int, sig: int, *, group: bool = False) -> None:
    try:  # noqa: SIM105 - no contextlib (see the module's docstring)
        (os.killpg if group else os.kill)(pid, sig)
    except ProcessLookupError:
        pass
