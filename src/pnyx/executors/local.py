"""The local executor (the embedded default): jobs run as real processes on this machine.

Each job attempt owns a directory named after its idempotency key under ``root``. Creating that
directory is the submission's point of no return, so a second submit of the same key starts
nothing. A supervisor process (``local_runner``) runs the job, captures its output, enforces its
time limit and records its exit; the granted accelerator slots reach the job as
``CUDA_VISIBLE_DEVICES``-style variables.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from pnyx.jobs.model import (
    Artifact,
    EngineRef,
    EngineRejected,
    EngineState,
    EngineStatus,
    Grant,
    JobSpec,
)

KEY = re.compile(r"^[A-Za-z0-9._-]{1,120}$")


class LocalExecutor:
    engine = "local"

    def __init__(self, root: Path) -> None:
        self.root = root
        self._launchers: dict[str, subprocess.Popen[bytes]] = {}  # exit within milliseconds; reaped on status
        self._launched: set[str] = set()  # keys this instance launched (a claim may lag the launcher's exit)
        self._failed_launches: dict[str, int] = {}

    def submit(self, spec: JobSpec, grant: Grant) -> EngineRef:
        if not spec.command:
            raise EngineRejected("the local executor runs commands, not container images", field="command")
        job_dir = self._dir(spec.idempotency_key)
        ref = EngineRef(engine=self.engine, engine_job_id=spec.idempotency_key)
        job_dir.mkdir(parents=True, exist_ok=True)
        if (job_dir / "claim").exists():
            return ref  # already submitted: idempotent
        (job_dir / "limit_s").write_text(str(spec.time_limit_s))
        (job_dir / "outputs").mkdir(exist_ok=True)
        (job_dir / "spec.json").write_text(
            json.dumps(
                {
                    "job_id": spec.job_id,
                    "command": list(spec.command),
                    "node_ids": list(grant.node_ids),
                    "counts": list(grant.counts),
                }
            )
        )
        self._reap()
        with (job_dir / "runner.log").open("ab") as runner_log:
            # Not waited for: the supervisor claims the attempt itself with an exclusive create, so a
            # second launch for the same key (a dispatcher that crashed and retried) exits at once.
            self._launched.add(spec.idempotency_key)
            self._launchers[spec.idempotency_key] = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "pnyx.executors.local_runner",
                    "--detach",
                    str(job_dir),
                    "--",
                    *spec.command,
                ],
                env={**os.environ, **spec.env, **accelerator_env(spec, grant)},
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=runner_log,
            )
        return ref

    def find(self, idempotency_key: str) -> EngineRef | None:
        found = (self._dir(idempotency_key) / "claim").exists()
        return EngineRef(engine=self.engine, engine_job_id=idempotency_key) if found else None

    def _reap(self) -> dict[str, int]:
        """Exit codes of the launchers that ended since the last look."""
        ended = {k: p.returncode for k, p in self._launchers.items() if p.poll() is not None}
        for key in ended:
            del self._launchers[key]
        return {k: code for k, code in ended.items() if code != 0}

    def status(self, refs: Sequence[EngineRef]) -> list[EngineStatus]:
        self._failed_launches = self._reap()  # launchers are waited for, never left as zombies
        return [self._status(ref) for ref in refs]

    def _status(self, ref: EngineRef) -> EngineStatus:
        job_dir = self._dir(ref.engine_job_id)
        exit_file = job_dir / "exit.json"
        if exit_file.exists():
            result = json.loads(exit_file.read_text())
            code = int(result["exit_code"])
            reason = str(result["reason"])
            state = (
                EngineState.CANCELLED
                if reason == "cancelled"
                else (EngineState.SUCCEEDED if code == 0 else EngineState.FAILED)
            )
            message = {
                "time-limit": "killed at its time limit",
                "failed-to-start": "the command could not start",
                "cancelled": "cancelled",
            }.get(reason, f"exited with {code}")
            return EngineStatus(
                ref=ref,
                state=state,
                exit_code=code,
                started_at=_time(result["started"]),
                ended_at=_time(result["ended"]),
                message=message,
            )
        pid_file = job_dir / "pid"
        if not pid_file.exists():
            failed = self._failed_launches.get(ref.engine_job_id)
            if failed:
                tail = (job_dir / "runner.log").read_text(errors="replace")[-500:]
                return EngineStatus(
                    ref=ref, state=EngineState.FAILED, message=f"the supervisor did not start: {tail}"
                )
            if (job_dir / "claim").exists() or ref.engine_job_id in self._launched:
                return EngineStatus(ref=ref, state=EngineState.QUEUED, message="starting")
            return EngineStatus(ref=ref, state=EngineState.UNKNOWN, message="never submitted here")
        self._launched.discard(ref.engine_job_id)  # claimed: the supervisor's files speak from now on
        if _alive(int(pid_file.read_text())):
            return EngineStatus(
                ref=ref, state=EngineState.RUNNING, started_at=_time(pid_file.stat().st_mtime)
            )
        if exit_file.exists():  # it finished between the two looks
            return self._status(ref)
        return EngineStatus(
            ref=ref, state=EngineState.FAILED, message="the job's supervisor died without a result"
        )

    def cancel(self, ref: EngineRef) -> None:
        pid_file = self._dir(ref.engine_job_id) / "pid"
        if not pid_file.exists() or (self._dir(ref.engine_job_id) / "exit.json").exists():
            return
        try:
            os.kill(int(pid_file.read_text()), signal.SIGTERM)  # the supervisor stops the job's group
        except ProcessLookupError:
            return

    def logs(self, ref: EngineRef, tail_lines: int = 200) -> str:
        log = self._dir(ref.engine_job_id) / "output.log"
        if not log.exists():
            return ""
        return "\n".join(log.read_text(errors="replace").splitlines()[-tail_lines:])

    def artifacts(self, ref: EngineRef) -> list[Artifact]:
        outputs = self._dir(ref.engine_job_id) / "outputs"
        if not outputs.is_dir():
            return []
        found = []
        for path in sorted(p for p in outputs.rglob("*") if p.is_file() and not p.is_symlink()):
            with path.open("rb") as f:
                digest = hashlib.file_digest(f, "sha256")
            found.append(
                Artifact(
                    path=str(path.relative_to(outputs)), sha256=digest.hexdigest(), size=path.stat().st_size
                )
            )
        return found

    def _dir(self, key: str) -> Path:
        if not KEY.match(key):
            raise EngineRejected(f"not a valid idempotency key: {key!r}", field="idempotency_key")
        return self.root / key


def accelerator_env(spec: JobSpec, grant: Grant) -> dict[str, str]:
    """The granted slots as the variables frameworks read (on one machine, slots 0..n-1 per node)."""
    slots = ",".join(str(i) for i in range(grant.counts[0] if grant.counts else spec.accelerators))
    return {
        "PNYX_JOB_ID": spec.job_id,
        "PNYX_ACCELERATOR_TYPE": spec.accelerator_type,
        "PNYX_ACCELERATORS": str(spec.accelerators),
        "PNYX_NODES": ",".join(grant.node_ids),
        "PNYX_OUTPUT_DIR": "outputs",  # relative to the job's working directory; hashed when it ends
        "PNYX_VISIBLE_ACCELERATORS": slots,
        "CUDA_VISIBLE_DEVICES": slots,
        "HIP_VISIBLE_DEVICES": slots,
    }


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie counts as ended (an orphaned supervisor whose new parent does not reap it).
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


def _time(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def wait_until_final(executor: LocalExecutor, ref: EngineRef, timeout_s: float = 30.0) -> EngineStatus:
    """Poll until the job ends (for the CLI and tests)."""
    deadline = time.monotonic() + timeout_s
    while True:
        status = executor.status([ref])[0]
        if status.state not in (EngineState.RUNNING, EngineState.QUEUED) or time.monotonic() > deadline:
            return status
        time.sleep(0.05)
