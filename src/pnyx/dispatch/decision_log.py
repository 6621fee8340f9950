"""The dispatcher's decision records, written before the decisions are applied (fail closed).

``DecisionRecorder.recorded`` is called once a cycle, right after ``plan()``, with the same
arguments: a cycle that decides nothing writes nothing; otherwise the topology (when it changed) and
the cycle's record go to the outbox in one transaction. If they cannot be written, the cycle applies
nothing (its errors say why) and the next cycle decides again: no decision goes unrecorded. The
ledger (what the last record left the inputs at) is in memory; each write reads the last record
back in its own transaction (from the outbox or, once appended, the log). Where that is not the
record this recorder wrote last (a new dispatcher, a lead lost and regained, another dispatcher's
record meanwhile), the record is a reset holding every input, which names it (``follows``: its seq
and digest), so an auditor tells a restart from a record gone missing. The record is made before
that transaction, as a change of the one the recorder assumes last, and made again in it only where
the log says otherwise (rare): the transaction holds one read and the inserts. Each job is spelled
once while the dispatcher hands over the same view of it (``audit.ledger.Spelling``).
"""

from __future__ import annotations

import json
import logging
from typing import Any

import sqlalchemy as sa

from pnyx.audit.ledger import Ledger, Spelling, restarted
from pnyx.audit.version import scheduler_version
from pnyx.audit.wire import CycleInputs, CycleOutputs, read_digest
from pnyx.core.errors import IntegrityFailure
from pnyx.db.outbox import newest_of
from pnyx.db.unit_of_work import UnitOfWork
from pnyx.dispatch.decisions import (
    CycleDecided,
    TopologyPublished,
    cycle_events,
    cycle_outputs,
    topology_events,
)
from pnyx.dispatch.faults import describe
from pnyx.dispatch.plan import Plan, PlanInputs
from pnyx.scheduler.model import Decisions
from pnyx.scheduler.topology import Topology
from pnyx.transparency.store import LogRepository

log = logging.getLogger("pnyx.dispatch")
PAGE = 64  # record parts read back at a time (a reset at 100,000 accelerators is a few dozen)


class DecisionRecorder:
    def __init__(self, uow: UnitOfWork | None, version: str | None = None) -> None:
        self.uow = uow  # None: records nothing (a dispatcher built without a log)
        self.version = version or (scheduler_version() if uow is not None else "")
        self.ledger: Ledger | None = None
        self.spelling = Spelling()  # each job's row as last recorded, while its view is the same
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

    def forget(self) -> None:
        """Drop the ledger (the lead was lost): the next record is a reset naming the last in the log."""
        self.ledger, self.spelling = None, Spelling()

    def _write(self, topology: Topology, inputs: CycleInputs, outputs: CycleOutputs) -> None:
        """The topology's parts if it changed since last published (digested once per new object), then
        the record, in one transaction; the recorder's memory moves on only once it committed. The
        record is made first, following the record this recorder assumes last (with no ledger, the
        log's last as read now: ``_assumed``). The last record is read again in the transaction: where
        it is not that one (another dispatcher wrote meanwhile), the record is made again there, a
        reset naming it."""
        assert self.uow is not None
        parts = [] if topology is self.seen else topology_events(topology)
        digest = parts[0].digest if parts else self.published
        fresh: list[TopologyPublished] = parts if digest != self.published else []
        assumed = self._assumed()
        made = self._made(assumed, inputs, outputs, digest)
        with self.uow.write() as tx:
            before = self._before(last_record(tx.conn))
            events, ledger = made if before is assumed else self._made(before, inputs, outputs, digest)
            for event in [*fresh, *events]:
                tx.emit(event)
        self.ledger, self.published, self.seen = ledger, digest, topology

    def _assumed(self) -> Ledger | None:
        """The ledger the next record follows unless the log says otherwise: this recorder's; with
        none, what a new dispatcher knows of the log's last record (kept: ``_before`` then finds it)."""
        if self.ledger is None:
            assert self.uow is not None
            with self.uow.read() as conn:
                self.ledger = self._before(last_record(conn))
        return self.ledger

    def _made(
        self, before: Ledger | None, inputs: CycleInputs, outputs: CycleOutputs, topology: str
    ) -> tuple[list[CycleDecided], Ledger]:
        return cycle_events(
            before, inputs, outputs, scheduler=self.version, topology=topology, spelling=self.spelling
        )

    def _before(self, found: tuple[int, str] | None) -> Ledger | None:
        """What the record follows: this recorder's ledger if the log's last record is its last one;
        otherwise what a new dispatcher knows of that record (None: there is none)."""
        ledger = self.ledger
        if ledger is not None and found == (ledger.seq, ledger.digest):
            return ledger
        return None if found is None else restarted(*found)


def last_record(conn: sa.Connection) -> tuple[int, str] | None:
    """The seq and digest (as a reader of the log computes it) of the last decision record written:
    its newest part is read first (one row), then only the parts it says it has (usually none)."""
    newest = _Newest(conn)
    first = newest.take(1)
    if not first:
        return None
    head = first[0]
    parts = {int(head["part"]): head}
    while len(parts) < int(head["parts"]):
        more = newest.take(min(PAGE, int(head["parts"]) - len(parts)))
        if not more or any(_header(p) != _header(head) for p in more):
            _incomplete(head, parts)  # an older record: the newest one's parts are all there or never
        for part in more:
            parts.setdefault(int(part["part"]), part)  # an entry appended while read shows twice
    return int(head["seq"]), read_digest([parts[n] for n in sorted(parts)])


def _header(part: dict[str, Any]) -> tuple[object, ...]:
    """What every part of one record repeats."""
    return part["seq"], part["parts"], part["prev"], part["now"]


def _incomplete(head: dict[str, Any], parts: dict[int, dict[str, Any]]) -> None:
    """Never in an honest database (a record's parts are written in one transaction): no record is
    written after it, so no decision is applied, until an operator looks (fail closed)."""
    raise IntegrityFailure(
        f"the last decision record (seq {head['seq']}) has parts {sorted(parts)} of {head['parts']} only"
    )


class _Newest:
    """Decision record parts, newest first, ``count`` at a time: those still in the outbox, then the
    log's. The outbox is read first: an entry the appender moves meanwhile is then read twice, never
    missed."""

    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn
        self.below: int | None = None  # the outbox id read last
        self.before: int | None = None  # the log index read last
        self.outbox_done = False

    def take(self, count: int) -> list[dict[str, Any]]:
        out = [] if self.outbox_done else self._outbox(count)
        if len(out) < count:
            out += self._log(count - len(out))
        return out

    def _outbox(self, count: int) -> list[dict[str, Any]]:
        rows = newest_of(self.conn, CycleDecided.event_type, count, self.below)
        self.outbox_done = len(rows) < count
        self.below = rows[-1][0] if rows else self.below
        return [json.loads(entry)["data"] for _, entry in rows]

    def _log(self, count: int) -> list[dict[str, Any]]:
        page = LogRepository(self.conn).entries_of(CycleDecided.event_type, count, before=self.before)
        self.before = page[0].index if page else self.before
        return [json.loads(e.data)["data"] for e in reversed(page)]
