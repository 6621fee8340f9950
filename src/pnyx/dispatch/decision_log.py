"""The dispatcher's decision records, written before the decisions are applied (fail closed).

``DecisionRecorder.recorded`` is called once a cycle, right after ``plan()``, with the same
arguments: a cycle that decides nothing writes nothing; otherwise the topology (when it changed) and
the cycle's record go to the outbox in one transaction. If they cannot be written, the cycle applies
nothing (its errors say why) and the next cycle decides again: no decision goes unrecorded. The
ledger (what the last record left the inputs at) is in memory: a new dispatcher starts with a reset
record holding every input.
"""

from __future__ import annotations

import logging

from pnyx.audit.ledger import Ledger
from pnyx.audit.version import scheduler_version
from pnyx.audit.wire import CycleInputs, CycleOutputs
from pnyx.db.unit_of_work import UnitOfWork
from pnyx.dispatch.decisions import (
    TopologyPublished,
    cycle_events,
    cycle_outputs,
    topology_events,
)
from pnyx.dispatch.faults import describe
from pnyx.dispatch.plan import Plan, PlanInputs
from pnyx.scheduler.model import Decisions
from pnyx.scheduler.topology import Topology

log = logging.getLogger("pnyx.dispatch")


class DecisionRecorder:
    def __init__(self, uow: UnitOfWork | None, version: str | None = None) -> None:
        self.uow = uow  # None: records nothing (a dispatcher built without a log)
        self.version = version or (scheduler_version() if uow is not None else "")
        self.ledger: Ledger | None = None
        self.seen: Topology | None = None  # the topology object last digested
        self.published = ""  # the digest of the topology last published

    def recorded(self, given: PlanInputs, decided: Plan, errors: list[str]) -> Plan:
        """``decided`` once its record is written; an empty plan if it could not be (fail closed)."""
        outputs = cycle_outputs(decided)
        if self.uow is None or outputs.empty:
            return decided
        try:
            self._write(given.topology, decided.decided_on, outputs)
        except Exception as exc:
            log.exception("dispatch: the cycle's decision record could not be written; nothing applied")
            errors.append(f"decision record not written ({describe(exc)}); the cycle's decisions wait")
            nothing = Decisions(considered=decided.decisions.considered)
            return Plan(decided_on=decided.decided_on, decisions=nothing, errors=decided.errors)
        return decided

    def _write(self, topology: Topology, inputs: CycleInputs, outputs: CycleOutputs) -> None:
        """The topology's parts if it changed since last published (digested once per new object), then
        the record, in one transaction; the recorder's memory moves on only once it committed."""
        assert self.uow is not None
        parts = [] if topology is self.seen else topology_events(topology)
        digest = parts[0].digest if parts else self.published
        fresh: list[TopologyPublished] = parts if digest != self.published else []
        events, ledger = cycle_events(self.ledger, inputs, outputs, scheduler=self.version, topology=digest)
        with self.uow.write() as tx:
            for event in [*fresh, *events]:
                tx.emit(event)
        self.ledger, self.published, self.seen = ledger, digest, topology
