"""An in-memory engine for tests and demos. It is a fake and says so: ``engine = "fake"``.

Nothing executes: a submitted job is RUNNING (started now, by its clock) until ``finish`` says how it
ended, with what exit code, output and artifacts. Otherwise it keeps the executor contract the real
engines keep (tests/engines/test_executor_contract.py): idempotent submit, UNKNOWN for refs it never
had, cancel a no-op once a job ended, times set and ordered.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from pnyx.core.clock import Clock, SystemClock
from pnyx.jobs.model import (
    FINAL_ENGINE_STATES,
    Artifact,
    EngineRef,
    EngineState,
    EngineStatus,
    Grant,
    JobSpec,
)

DEFAULT_EXIT = {EngineState.SUCCEEDED: 0, EngineState.FAILED: 1}


class FakeExecutor:
    engine = "fake"

    def __init__(self, clock: Clock | None = None) -> None:
        self.clock = clock or SystemClock()
        self.submitted: dict[str, JobSpec] = {}
        self.grants: dict[str, Grant] = {}
        self.states: dict[str, EngineState] = {}
        self.started_at: dict[str, datetime] = {}
        self.ended_at: dict[str, datetime] = {}
        self.exit_codes: dict[str, int] = {}
        self.outputs: dict[str, str] = {}  # key -> what the job printed
        self.files: dict[str, list[Artifact]] = {}  # key -> what it left in its output directory
        self.submissions = 0  # calls that really started something

    def submit(self, spec: JobSpec, grant: Grant) -> EngineRef:
        key = spec.idempotency_key
        if key not in self.submitted:
            self.submitted[key], self.grants[key] = spec, grant
            self.states[key] = EngineState.RUNNING
            self.started_at[key] = self.clock.now()
            self.submissions += 1
        return self._ref(key)

    def find(self, idempotency_key: str) -> EngineRef | None:
        return self._ref(idempotency_key) if idempotency_key in self.submitted else None

    def status(self, refs: Sequence[EngineRef]) -> list[EngineStatus]:
        return [self._status(ref) for ref in refs]

    def cancel(self, ref: EngineRef) -> None:
        if self.states.get(ref.engine_job_id) is EngineState.RUNNING:
            self._end(ref.engine_job_id, EngineState.CANCELLED, None)

    def logs(self, ref: EngineRef, tail_lines: int = 200) -> str:
        lines = self.outputs.get(ref.engine_job_id, "").splitlines()
        return "\n".join(lines[-tail_lines:]) if tail_lines > 0 else ""

    def artifacts(self, ref: EngineRef) -> list[Artifact]:
        return list(self.files.get(ref.engine_job_id, ()))

    def finish(
        self,
        key: str,
        state: EngineState = EngineState.SUCCEEDED,
        at: datetime | None = None,
        *,
        exit_code: int | None = None,
        output: str = "",
        artifacts: Sequence[Artifact] = (),
    ) -> None:
        """The job ended (``state``: final) at ``at`` (default now), as a real one would report it."""
        code = exit_code if exit_code is not None else DEFAULT_EXIT.get(state)
        self._end(key, state, at, code)
        self.outputs[key] = self.outputs.get(key, "") + output
        self.files[key] = list(artifacts)

    def _end(self, key: str, state: EngineState, at: datetime | None, exit_code: int | None = None) -> None:
        assert state in FINAL_ENGINE_STATES, f"{state} is not how a job ends"
        started = self.started_at.setdefault(key, self.clock.now())
        self.states[key] = state
        self.ended_at[key] = max(started, at or self.clock.now())
        if exit_code is not None:
            self.exit_codes[key] = exit_code

    def _status(self, ref: EngineRef) -> EngineStatus:
        key = ref.engine_job_id
        state = self.states.get(key, EngineState.UNKNOWN)
        if state is EngineState.UNKNOWN:
            return EngineStatus(ref=ref, state=state, message="the fake engine never had it")
        return EngineStatus(
            ref=ref,
            state=state,
            exit_code=self.exit_codes.get(key),
            started_at=self.started_at.get(key),
            ended_at=self.ended_at.get(key),
        )

    def _ref(self, key: str) -> EngineRef:
        return EngineRef(engine=self.engine, engine_job_id=key)
