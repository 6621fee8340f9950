"""What an operator sees of the engines and the dispatcher: each engine asked, as the dispatcher asks
it every cycle, for the status of a few of its jobs (reachable, or the error it answered with), and
the last dispatch cycle that decided anything, as its record in the log says (``docs/audit.md``).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pnyx.dispatch.faults import describe
from pnyx.dispatch.records import ref_of
from pnyx.jobs.executor import Executor
from pnyx.jobs.model import JobRecord
from pnyx.transparency.model import LogEntry

PROBED = 5  # jobs an engine is asked about: enough to see it answer, few enough for a page
CYCLE = "scheduler.cycle.decided"
OUTPUTS = ("starts", "ahead", "preemptions", "rejections", "requeue")


@dataclass(frozen=True, slots=True, kw_only=True)
class EngineHealth:
    name: str
    kind: str  # the executor's class: LocalExecutor, SlurmExecutor, ...
    jobs: dict[str, int]  # the engine's active jobs, by status
    probed: int  # jobs whose status the engine was asked for now (none: nothing to ask about)
    error: str  # what the engine answered with when it failed; "" when it answered

    @property
    def reachable(self) -> bool:
        return not self.error


@dataclass(frozen=True, slots=True, kw_only=True)
class CycleSeen:
    """The newest deciding cycle's record among the log entries looked at."""

    index: int  # its log index
    at: datetime  # the cycle's time
    seq: int
    scheduler: str
    outputs: dict[str, int]  # starts, preemptions, rejections ...: how many


def engine_health(active: Sequence[JobRecord], executors: Mapping[str, Executor]) -> list[EngineHealth]:
    return [
        _probe(name, executor, [j for j in active if j.engine == name])
        for name, executor in sorted(executors.items())
    ]


def _probe(name: str, executor: Executor, jobs: list[JobRecord]) -> EngineHealth:
    refs = [ref_of(j) for j in jobs if j.engine_job_id][:PROBED]
    error = ""
    try:
        executor.status(refs)
    except Exception as exc:  # an engine's failure is its health: reported on the page, as in a cycle
        error = describe(exc)
    counts = Counter(j.status.value for j in jobs)
    return EngineHealth(
        name=name, kind=type(executor).__name__, jobs=dict(counts), probed=len(refs), error=error
    )


def last_cycle(entries: Sequence[LogEntry]) -> CycleSeen | None:
    """The newest ``scheduler.cycle.decided`` record's first part among ``entries``."""
    for entry in reversed(entries):
        if entry.event_type == CYCLE:
            data: dict[str, Any] = json.loads(entry.data)["data"]
            if data.get("part") == 1:
                return _seen(entry.index, data)
    return None


def _seen(index: int, data: Mapping[str, Any]) -> CycleSeen:
    body = data.get("body", {})
    return CycleSeen(
        index=index,
        at=datetime.fromtimestamp(float(data["now"]), UTC),
        seq=int(data["seq"]),
        scheduler=str(data["scheduler"]),
        outputs={k: len(body[k]) for k in OUTPUTS if isinstance(body.get(k), list)},
    )
