"""The local executor (the embedded default): each job runs in a bubblewrap sandbox on this machine.

Each job attempt gets a state directory (the supervisor's, 0700 root, never visible to the job) and
a work directory (the job's, owned by its uid) under ``root``; see ``local_state`` for the layout.
Creating the claim in the state directory is the submission's point of no return, so a second
submit of the same key starts nothing. A supervisor process (``local_runner``) waits for one of the
machine's ``max_jobs`` slots (the job is QUEUED meanwhile), runs the job under an unprivileged uid
in bwrap with a clean environment, a seccomp filter and rlimits sized from the machine, captures its
output, enforces its time limit and records its exit; the granted accelerator slots reach the job
as ``CUDA_VISIBLE_DEVICES``-style variables. Attempts older than ``retention_s`` are deleted by a
sweep that ``status()`` starts at most once a minute. Without bwrap, jobs are refused with the
reason; the development switch (``SandboxConfig(enabled=False)``, PNYX_SANDBOX=off) runs L1 jobs
unsandboxed. An SME workspace's job (``spec.sealed``) runs as ``local_sealed`` describes: its data
keys reach its sandbox through memory and pipes only, its plaintext stays on tmpfs.
"""

from __future__ import annotations

import logging
import marshal
import os
import re
import signal
import threading
import time
import weakref
from collections.abc import Collection, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from pnyx.executors.local_checkpoints import CheckpointCaps, hash_checkpoints
from pnyx.executors.local_host import probe_host
from pnyx.executors.local_outputs import OutputCaps, hash_outputs, open_output
from pnyx.executors.local_runtime import missing_command
from pnyx.executors.local_sealed import KEYS_LOST, keys_document, sealed_launch, sealed_refusal
from pnyx.executors.local_spawner import Spawner
from pnyx.executors.local_state import (
    CorruptState,
    ExitRecord,
    Layout,
    parse_exit,
    parse_pid,
    prepare_root,
    read_bounded,
    signal_supervisor,
    supervisor_alive,
    sweep,
    tail,
    write_private,
)
from pnyx.executors.sandbox import (
    RETENTION_S,
    HostFacts,
    SandboxConfig,
    job_path,
    launch_record,
    max_jobs,
    refusal,
)
from pnyx.jobs.model import (
    Artifact,
    EngineRef,
    EngineRejected,
    EngineState,
    EngineStatus,
    Grant,
    JobSpec,
)

log = logging.getLogger(__name__)
LAUNCH = "launch.marshal"  # written by submit before it returns; the supervisor reads it once
KEY = re.compile(r"^[A-Za-z0-9._-]{1,120}$")
MAX_NOTES = 20
START_TIMEOUT_S = 60.0  # handed to the spawner but never claimed: the supervisor did not start
SWEEP_INTERVAL_S = 60.0
MESSAGES = {
    "time-limit": "killed at its time limit",
    "failed-to-start": "the command could not start",
    "cancelled": "cancelled",
    "keys-lost": KEYS_LOST,
}
SEALED = "sealed"  # in a sealed job's state directory: its outputs are sealed, its checkpoints unread


class LocalExecutor:
    engine = "local"
    checkpoint_caps = CheckpointCaps()  # what one look at a running job's checkpoints may cost

    def __init__(
        self,
        root: Path,
        sandbox: SandboxConfig | None = None,
        *,
        outputs: OutputCaps | None = None,
        host: HostFacts | None = None,
        retention_s: float = RETENTION_S,
    ) -> None:
        self.layout = Layout(root)
        self.config = sandbox or SandboxConfig()
        self.host = host or probe_host(self.config)
        self.outputs = outputs or OutputCaps()
        self.retention_s = retention_s
        self._next_sweep = 0.0  # monotonic
        self._sweeping = threading.Lock()
        self._root_ready = False
        self._spawner = Spawner(root / "spawner.log")
        weakref.finalize(self, self._spawner.close)
        self._launched: dict[str, float] = {}  # keys handed to the spawner, when (a claim lags a little)

    def submit(self, spec: JobSpec, grant: Grant) -> EngineRef:
        if not spec.command:
            raise EngineRejected("the local executor runs commands, not container images", field="command")
        state = self._state(spec.idempotency_key)
        ref = EngineRef(engine=self.engine, engine_job_id=spec.idempotency_key)
        if (state / "claim").exists():
            return ref  # already submitted: idempotent
        if (state / LAUNCH).exists():
            self._relaunch(spec.idempotency_key, state)  # written, maybe never handed: hand it again
            return ref
        problem = refusal(spec, self.config, self.host) or self._prepared_root()
        if problem:
            raise EngineRejected(problem, field="sandbox")
        if problem := sealed_refusal(spec, self.config):
            raise EngineRejected(problem, field="sealed")
        self._check_command(spec.command[0])
        state.mkdir(mode=0o700, exist_ok=True)
        self._launch(spec, grant, state)
        return ref

    def _check_command(self, name: str) -> None:
        """A sandboxed command named without a path must be on the job's PATH (else a refusal that
        says what to do, not bwrap's bare ``execvp ...: No such file or directory`` in its log)."""
        path = job_path(self.host, self.config.runtime)
        if not self.config.enabled or "/" in name or any(os.access(Path(d, name), os.X_OK) for d in path):
            return
        lent = bool(self.config.runtime.path)
        raise EngineRejected(missing_command(name, path, runtime_lent=lent), field="command")

    def _prepared_root(self) -> str | None:
        """Why the job root cannot hold jobs (checked until it can: an operator may fix it live)."""
        if self._root_ready:
            return None
        try:
            problem = prepare_root(self.layout.root, job_uids=self.config.enabled and self.host.is_root)
        except OSError as exc:
            problem = f"cannot prepare the job root {self.layout.root}: {exc}"
        self._root_ready = problem is None
        return problem

    def _launch(self, spec: JobSpec, grant: Grant, state: Path) -> None:
        if not self.config.enabled:
            log.warning("PNYX_SANDBOX=off: job %s runs unsandboxed, as uid %d", spec.job_id, os.geteuid())
        key = spec.idempotency_key
        where = {"work_dir": str(self.layout.work(key)), "locks": str(self.layout.root)}
        if spec.sealed is None:
            record = launch_record(spec, grant, self.config, self.host, **where)
        else:
            record = sealed_launch(spec, grant, self.config, self.host, outputs=self.outputs, **where)
            write_private(state / SEALED, b"")
        write_private(state / LAUNCH, marshal.dumps(record))  # the supervisor's, read once
        # Not waited for: the supervisor claims the attempt itself with an exclusive create, so a
        # second launch for the same key (a dispatcher that crashed and retried) exits at once.
        # A sealed job's keys go by the hand-over pipe, never a file; a relaunch has none.
        self._launched[key] = time.monotonic()
        self._spawner.hand(state, keys_document(spec.sealed, self.outputs) if spec.sealed else None)

    def _relaunch(self, key: str, state: Path) -> None:
        """Hand a written launch to the spawner once more; its exclusive claim keeps the job single."""
        if key not in self._launched:
            self._launched[key] = time.monotonic()
            self._spawner.hand(state)

    def close(self) -> None:
        """Stop the spawner (running jobs' supervisors do not depend on it)."""
        self._spawner.close()

    def find(self, idempotency_key: str) -> EngineRef | None:
        """Submitted here once its launch record is written (before ``submit`` returns), claimed or
        not: a launch a crash left unclaimed is handed to the spawner again by ``status``."""
        state = self._state(idempotency_key)
        found = (state / "claim").exists() or (state / LAUNCH).exists()
        return EngineRef(engine=self.engine, engine_job_id=idempotency_key) if found else None

    def status(self, refs: Sequence[EngineRef]) -> list[EngineStatus]:
        self._maybe_sweep()
        return [self._status_of(ref) for ref in refs]

    def _maybe_sweep(self) -> None:
        """At most once a minute, off the caller's thread: delete attempts past their retention."""
        now = time.monotonic()
        if now < self._next_sweep:
            return
        self._next_sweep = now + SWEEP_INTERVAL_S
        if self._prepared_root() is not None:
            return  # not a root of ours (yet): nothing to sweep
        threading.Thread(target=self.sweep, name="pnyx-local-sweep", daemon=True).start()

    def sweep(self) -> list[str]:
        """Delete the directories of attempts that ended more than ``retention_s`` ago (their keys)."""
        if not self._sweeping.acquire(blocking=False):
            return []
        try:
            removed = sweep(self.layout, retention_s=self.retention_s, now=time.time())
        except OSError as exc:  # the next sweep tries again
            log.warning("local executor: the sweep of %s failed: %s", self.layout.root, exc)
            return []
        finally:
            self._sweeping.release()
        if removed:
            log.info("local executor: removed %d attempts older than %ss", len(removed), self.retention_s)
        return removed

    def _status_of(self, ref: EngineRef) -> EngineStatus:
        """One job's status; whatever its state directory holds, only that job is affected."""
        if not KEY.match(ref.engine_job_id):
            return EngineStatus(ref=ref, state=EngineState.UNKNOWN, message="not a key this executor issues")
        try:
            return self._status(ref, self._state(ref.engine_job_id))
        except (CorruptState, OSError) as exc:
            return EngineStatus(
                ref=ref, state=EngineState.FAILED, message=f"the supervisor's record is unreadable: {exc}"
            )

    def _status(self, ref: EngineRef, state: Path) -> EngineStatus:
        done = read_bounded(state / "exit.json")
        if done is not None:
            return _final(ref, parse_exit(done))
        pid = read_bounded(state / "pid.json")
        if pid is None:
            return self._not_started(ref, state)
        self._launched.pop(ref.engine_job_id, None)  # claimed: the supervisor's files speak from now on
        record = parse_pid(pid)
        if supervisor_alive(record):
            if record.started is None:
                return EngineStatus(ref=ref, state=EngineState.QUEUED, message=self._queued)
            return EngineStatus(ref=ref, state=EngineState.RUNNING, started_at=_time(record.started))
        done = read_bounded(state / "exit.json")  # it may have finished between the two looks
        if done is not None:
            return _final(ref, parse_exit(done))
        return EngineStatus(
            ref=ref, state=EngineState.FAILED, message="the job's supervisor died without a result"
        )

    def _not_started(self, ref: EngineRef, state: Path) -> EngineStatus:
        if (state / "claim").exists():
            return EngineStatus(ref=ref, state=EngineState.QUEUED, message="starting")
        handed = self._launched.get(ref.engine_job_id)
        if handed is None and (state / LAUNCH).exists():
            self._relaunch(ref.engine_job_id, state)  # a dispatcher that crashed between write and hand
            return EngineStatus(ref=ref, state=EngineState.QUEUED, message="starting")
        if handed is None:
            return EngineStatus(ref=ref, state=EngineState.UNKNOWN, message="never submitted here")
        if time.monotonic() - handed > START_TIMEOUT_S:
            why = f"the supervisor did not start: {tail(state / 'runner.log', 5)}"
            return EngineStatus(ref=ref, state=EngineState.FAILED, message=why)
        return EngineStatus(ref=ref, state=EngineState.QUEUED, message="starting")

    @property
    def _queued(self) -> str:
        return f"waiting for one of this machine's {max_jobs(self.config, self.host)} local job slots"

    def cancel(self, ref: EngineRef) -> None:
        """SIGTERM to the supervisor this executor launched, checked by pid *and* start time."""
        state = self._state(ref.engine_job_id)
        try:
            if read_bounded(state / "exit.json") is not None:
                return
            data = read_bounded(state / "pid.json")
            record = parse_pid(data) if data is not None else None
        except CorruptState:
            return  # status() reports it as the job's failure
        if record is not None:
            signal_supervisor(record, signal.SIGTERM)

    def logs(self, ref: EngineRef, tail_lines: int = 200) -> str:
        return tail(self._state(ref.engine_job_id) / "output.log", tail_lines)

    def artifacts(self, ref: EngineRef) -> list[Artifact]:
        key = ref.engine_job_id
        found = hash_outputs(self.layout.work(self._checked(key)), self.outputs)
        if found.notes:
            self._note(key, found.notes)
        return found.artifacts

    def open_output(self, ref: EngineRef, path: str, size: int) -> BinaryIO:
        return open_output(self.layout.work(self._checked(ref.engine_job_id)), path, size)

    def checkpoints(self, ref: EngineRef, skip: Collection[int]) -> list[tuple[int, list[Artifact]]]:
        """None for a sealed job: whatever it writes leaves its sandbox sealed, when it ends."""
        if (self._state(ref.engine_job_id) / SEALED).exists():
            return []
        work = self.layout.work(self._checked(ref.engine_job_id))
        return hash_checkpoints(work, self.checkpoint_caps, skip)

    def _note(self, key: str, notes: list[str]) -> None:
        """Skipped outputs are named in the job's own log, where its owner reads them."""
        lines = [f"pnyx: {n} (not recorded)" for n in notes[:MAX_NOTES]]
        if len(notes) > MAX_NOTES:
            lines.append(f"pnyx: and {len(notes) - MAX_NOTES} more outputs not recorded")
        path = self._state(key) / "output.log"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "ab") as f:
            f.write(("\n".join(lines) + "\n").encode())

    def _state(self, key: str) -> Path:
        return self.layout.state(self._checked(key))

    def _checked(self, key: str) -> str:
        if not KEY.match(key):
            raise EngineRejected(f"not a valid idempotency key: {key!r}", field="idempotency_key")
        return key


def _final(ref: EngineRef, result: ExitRecord) -> EngineStatus:
    if result.reason == "cancelled":
        state = EngineState.CANCELLED
    else:
        state = EngineState.SUCCEEDED if result.exit_code == 0 else EngineState.FAILED
    return EngineStatus(
        ref=ref,
        state=state,
        exit_code=result.exit_code,
        started_at=_time(result.started),
        ended_at=_time(result.ended),
        message=MESSAGES.get(result.reason, f"exited with {result.exit_code}"),
    )


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
