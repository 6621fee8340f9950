"""The local executor's warm spawner: hands each launch to ``local_runner --serve`` on a pipe."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import threading
from pathlib import Path

from pnyx.jobs.model import EngineUnavailable

RUNNER = Path(__file__).with_name("local_runner.py")


class Spawner:
    """``local_runner --serve``, a warm process that forks one detached supervisor per line it reads,
    ``STATE_DIR`` or, for a sealed job, ``STATE_DIR<TAB>base64(keys)`` (in memory only: the line goes
    through its stdin pipe), forking being much cheaper than starting Python per job. Started on first use,
    restarted if it died; it ends when its input closes (this executor closed, or its process died),
    and supervisors it forked live on without it."""

    def __init__(self, log: Path) -> None:
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None
        self.lock = threading.Lock()

    def hand(self, state: Path, keys: bytes | None = None) -> None:
        line = str(state).encode() + (b"\t" + base64.b64encode(keys) if keys else b"") + b"\n"
        with self.lock:
            self._hand(line)

    def _hand(self, line: bytes) -> None:
        for _attempt in range(2):
            stdin = self._running().stdin
            assert stdin is not None
            try:
                stdin.write(line)
                stdin.flush()
            except BrokenPipeError:
                self.close()
            else:
                return
        raise EngineUnavailable(f"the local supervisor spawner keeps dying: see {self.log}")

    def _running(self) -> subprocess.Popen[bytes]:
        if self.process is not None and self.process.poll() is not None:
            self.close()  # it died: its pipe is closed and it is reaped before a new one starts
        if self.process is None:
            log = os.open(self.log, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW, 0o600)
            try:
                self.process = subprocess.Popen(
                    [sys.executable, "-I", "-S", str(RUNNER), "--serve"],
                    env={},
                    stdin=subprocess.PIPE,
                    stdout=subprocess.DEVNULL,
                    stderr=log,
                )
            finally:
                os.close(log)
        return self.process

    def close(self) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        try:
            process.communicate(timeout=10)  # closes its input: it ends
        except (BrokenPipeError, subprocess.TimeoutExpired):
            process.kill()  # the supervisors it forked are detached: they go on
            process.wait()
