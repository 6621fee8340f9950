"""An in-memory engine for tests and demos. It is a fake and says so: ``engine = "fake"``.

Jobs stay RUNNING until ``finish`` is called; nothing executes.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from pnyx.jobs.model import EngineRef, EngineState, EngineStatus, Grant, JobSpec


class FakeExecutor:
    engine = "fake"

    def __init__(self) -> None:
        self.submitted: dict[str, JobSpec] = {}
        self.grants: dict[str, Grant] = {}
        self.states: dict[str, EngineState] = {}
        self.submissions = 0  # calls that really started something

    def submit(self, spec: JobSpec, grant: Grant) -> EngineRef:
        key = spec.idempotency_key
        if key not in self.submitted:
            self.submitted[key], self.grants[key] = spec, grant
            self.states[key] = EngineState.RUNNING
            self.submissions += 1
        return EngineRef(engine=self.engine, engine_job_id=key)

    def find(self, idempotency_key: str) -> EngineRef | None:
        found = idempotency_key in self.submitted
        return EngineRef(engine=self.engine, engine_job_id=idempotency_key) if found else None

    def status(self, refs: Sequence[EngineRef]) -> list[EngineStatus]:
        return [
            EngineStatus(ref=r, state=self.states.get(r.engine_job_id, EngineState.UNKNOWN)) for r in refs
        ]

    def cancel(self, ref: EngineRef) -> None:
        if self.states.get(ref.engine_job_id) is EngineState.RUNNING:
            self.states[ref.engine_job_id] = EngineState.CANCELLED

    def logs(self, ref: EngineRef, tail_lines: int = 200) -> str:
        return f"(fake engine: {ref.engine_job_id} ran nothing)"

    def finish(
        self, key: str, state: EngineState = EngineState.SUCCEEDED, at: datetime | None = None
    ) -> None:
        self.states[key] = state
