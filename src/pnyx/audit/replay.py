"""The replay of a log's decision records (pure): rebuild each cycle's inputs from the entries,
decide it again with the same scheduler, and name the first record that differs.

Entries come in log order as ``(index, parsed entry)``; every entry must be a JSON object naming
its type. ``scheduler.topology.published`` and ``scheduler.cycle.decided`` are read, their shape
checked first (``shape``); the jobs' own events are held against the records (``job_events``). For
each record: the scheduler version must be one the auditor knows; the record must follow from the
ones before (``ledger.follow``); its ``now`` must not go back; its topology must have been published
whole before it; its outputs must keep the invariants (``invariants``); and, rerun, the scheduler
must decide exactly what it says. Member states' recorded use is summed over time. Whatever a
hostile entry holds, the replay goes on: an entry it cannot read is a finding at its index.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pnyx.audit import invariants, shape
from pnyx.audit.entitlements import Entitlements
from pnyx.audit.entries import UNREADABLE
from pnyx.audit.fairness import Use, Window, Windows, passed_over, started_use, under_share
from pnyx.audit.job_events import KINDS, JobEvents
from pnyx.audit.ledger import BadRecord, Ledger, follow, joined, resumed
from pnyx.audit.mirror import Changes, Mirror, Rows, changes
from pnyx.audit.rerun import decide
from pnyx.audit.topology_wire import TopologyBook, TopologyPart
from pnyx.audit.wire import (
    OUTPUT_KEYS,
    CycleInputs,
    Held,
    Json,
    held_in,
    job_in,
    normal,
    outputs_out,
    policy_in,
    shares_in,
    usage_in,
)
from pnyx.scheduler.capacity import Capacity
from pnyx.scheduler.carried import CarriedCapacity
from pnyx.scheduler.fairshare import DAY_S
from pnyx.scheduler.model import Job
from pnyx.scheduler.queue import KeptQueue
from pnyx.scheduler.topology import Topology

CYCLE = "scheduler.cycle.decided"
TOPOLOGY = "scheduler.topology.published"
SAID = 300  # characters of an exception's text a finding quotes


@dataclass(frozen=True, slots=True, kw_only=True, order=True)
class Finding:
    index: int  # the log index of the record (its first part) or entry concerned
    message: str


@dataclass(slots=True, kw_only=True)
class ReplayReport:
    entries: int = 0
    cycles: int = 0  # records read
    agreed: int = 0  # records decided again, in agreement
    problems: list[Finding] = field(default_factory=list)
    used: dict[str, float] = field(default_factory=lambda: defaultdict(float))  # member -> acc-s
    entitled: dict[str, float] = field(default_factory=dict)  # member -> weight, latest in force
    windows: list[Window] = field(default_factory=list)  # use against entitlement, window by window
    resets: list[int] = field(default_factory=list)  # log indexes of reset records after the first
    notes: list[str] = field(default_factory=list)  # what could not be checked, said once each

    @property
    def ok(self) -> bool:
        return not self.problems


class Replay:
    def __init__(
        self,
        known_versions: Collection[str],
        *,
        rerun: bool = True,
        window_s: float = DAY_S,
        max_share_gap: float | None = None,
    ) -> None:
        self.known, self.rerun, self.max_share_gap = known_versions, rerun, max_share_gap
        self.windows = Windows(window_s=window_s)
        self.book = TopologyBook()
        self.carried: dict[str, CarriedCapacity] = {}  # topology digest -> as the last record left it
        self.tenancies: dict[str, invariants.Tenancy] = {}  # topology digest -> the holders on its nodes
        self.queue = KeptQueue()  # the waiting jobs' queue, changed from record to record (a cache)
        self.ledger: Ledger | None = None
        self.pending: list[tuple[int, Mapping[str, Json]]] = []
        self.jobs: dict[str, tuple[Sequence[Json], Job]] = {}
        self.held: dict[str, tuple[Sequence[Json], Held]] = {}
        self.changes: Changes | None = None  # what the last record followed changed of the holding
        self.holds: Mirror[Held] = Mirror()  # the ledger's holding rows decoded, followed by changes
        self.uses: Mirror[Use | None] = Mirror()  # the accelerators each started holder's member uses
        self.last_now: float | None = None
        self.events = JobEvents()
        self.broken = False
        self.report = ReplayReport()
        self.last_parts: list[Mapping[str, Json]] | None = None  # the last record's, followed or not
        self.entitlements = Entitlements()  # the council's and the awards' entries, in force by time
        self.report.notes = self.entitlements.notes

    def feed(self, index: int, entry: Mapping[str, Any]) -> None:
        self.report.entries += 1
        kind = entry.get("type")
        try:
            self._entry(index, kind, entry)
            self.entitlements.see(index, kind, entry.get("data"))
        except Exception as exc:  # a hostile entry is a finding at its index, never the end of the replay
            said = f"{type(exc).__name__}: {exc}"[:SAID]
            self._problem(index, f"a malformed {str(kind)[:SAID]} entry ({said})")

    def _entry(self, index: int, kind: object, entry: Mapping[str, Any]) -> None:
        data: Any = entry.get("data")
        if not isinstance(kind, str):
            self._problem(index, f"the entry is not an event: {entry.get(UNREADABLE, 'no type')}")
        elif kind in (TOPOLOGY, CYCLE):
            wrong = shape.problem(data, shape.TOPOLOGY_PART if kind == TOPOLOGY else shape.CYCLE_PART)
            if wrong is not None:
                self._problem(index, f"a malformed {kind} entry: {wrong}")
            elif kind == TOPOLOGY:
                self._problem(index, self.book.add(TopologyPart(**data)))
            else:
                self._part(index, data)
        elif kind in KINDS:
            if not isinstance(data, dict):
                raise TypeError("its data is not an object")
            for message in self.events.see(index, kind, data):
                self._problem(index, message)

    def finish(self) -> ReplayReport:
        self._incomplete()
        self.windows.close()
        self.report.windows = list(self.windows.closed)
        gap = self.max_share_gap
        if gap is not None:
            for window in self.report.windows:
                for message in under_share(window, gap):
                    self._problem(window.last_index, message)
        return self.report

    def _incomplete(self) -> None:
        if self.pending:
            head = self.pending[0][1]  # its shape was checked: a mapping with seq and parts
            self._problem(
                self.pending[0][0],
                f"record {head['seq']} ends after part {len(self.pending)} of {head['parts']}",
            )
            self.pending = []

    def _problem(self, index: int, message: str | None) -> None:
        if message is not None:
            self.report.problems.append(Finding(index=index, message=message))

    def _part(self, index: int, data: Mapping[str, Json]) -> None:
        if self.pending and self.pending[0][1]["seq"] != data["seq"]:
            self._incomplete()
        self.pending.append((index, data))
        if data["part"] == data["parts"]:
            first, parts = self.pending[0][0], [d for _, d in self.pending]
            self.pending = []
            self._record(first, parts)

    def _record(self, index: int, parts: list[Mapping[str, Json]]) -> None:
        self.report.cycles += 1
        head, body = parts[0], joined(parts)
        self._claims(index, head, body)
        if body.get("reset") and self.report.cycles > 1:
            self.report.resets.append(index)
        if body.get("reset"):
            said = resumed(body, self.last_parts)  # it names the last record before it in the log
            self._problem(index, None if said is None else f"record {head['seq']}: {said}")
        self.last_parts = parts
        if self.broken and not body.get("reset"):
            return  # after a record that does not follow, nothing does until the next reset
        try:
            before, self.ledger, self.broken = self.ledger, follow(self.ledger, parts), False
            self.changes = changes(
                None if before is None else before.holding, body, "holding_set", "holding_drop"
            )
        except BadRecord as exc:
            self._problem(index, str(exc))
            self.ledger, self.broken = None, True
            return
        topology = self.book.known.get(str(head["topology"]))
        if topology is None:
            self._problem(
                index, f"record {head['seq']} names topology {head['topology']}, not published before it"
            )
            return
        now, ledger = float(head["now"]), self.ledger
        if self.last_now is not None and now < self.last_now:
            self._problem(
                index, f"record {head['seq']}: now {now} is before the record before it ({self.last_now})"
            )
        uses = self.uses.follow(ledger.holding, self.changes, started_use).values()
        self._account(ledger, uses, now)
        self.windows.add(index, now, ledger.queue, uses, ledger.settings)
        recorded = {k: body.get(k, []) for k in OUTPUT_KEYS}
        for message in [
            *invariants.check(
                topology,
                ledger.queue,
                ledger.holding,
                recorded,
                body.get("holding_set", []),
                tenancy=self.tenancies.setdefault(str(head["topology"]), invariants.Tenancy(topology)),
                changes=self.changes,
            ),
            *passed_over(ledger.queue, ledger.holding, ledger.settings, now, recorded, job=self._job),
            *self._shares(now, ledger),
        ]:
            self._problem(index, f"record {head['seq']}: {message}")
        if head["scheduler"] not in self.known:
            known = ", ".join(sorted(self.known)) or "none"
            self._problem(
                index,
                f"record {head['seq']}: scheduler version {head['scheduler']} is unknown (known: {known})",
            )
        elif self.rerun:
            self._again(index, head, topology, recorded, tuple(body.get("holding_order", ())))

    def _shares(self, now: float, ledger: Ledger) -> list[str]:
        """The shares check, on its own: what it cannot do is one finding; the record's other checks
        still run."""
        try:
            return self.entitlements.check(now, ledger.settings["shares"])
        except Exception as exc:  # a hostile entry or record is a finding, never the end of the record
            return [f"shares: not checked ({type(exc).__name__}: {exc})"[:SAID]]

    def _claims(self, index: int, head: Mapping[str, Json], body: Mapping[str, Json]) -> None:
        """The record's outputs as claims the jobs' events must match; its job rows against theirs."""
        topology = self.book.known.get(str(head["topology"]))
        rows = [*body.get("queue_set", []), *body.get("holding_set", [])]
        for message in self.events.record(index, topology, rows, body):
            self._problem(index, f"record {head['seq']}: {message}")

    def _again(
        self,
        index: int,
        head: Mapping[str, Json],
        topology: Topology,
        recorded: Mapping[str, Json],
        order: tuple[str, ...],
    ) -> None:
        assert self.ledger is not None
        inputs = inputs_of(
            self.ledger,
            float(head["now"]),
            topology,
            order,
            job=self._job,
            holding=lambda rows: self._holding(rows, topology),
        )
        carried = self.carried.get(str(head["topology"]))
        if carried is None:
            carried = self.carried[str(head["topology"])] = CarriedCapacity(Capacity(topology))
        expected = normal(outputs_out(decide(topology, inputs, carried=carried, kept=self.queue)))
        found = differences(expected, normal(dict(recorded)))
        if found:
            self._problem(index, f"record {head['seq']}: {found[0]}")
        else:
            self.report.agreed += 1

    def _job(self, row: Sequence[Json]) -> Job:
        cached = self.jobs.get(row[0])
        if cached is None or cached[0] is not row:
            cached = self.jobs[row[0]] = (row, job_in(row))
        return cached[1]

    def _holding(self, rows: Rows, topology: Topology) -> tuple[Held, ...]:
        """The ledger's holding rows decoded, each read again only where the record changed it."""
        held = self.holds.follow(rows, self.changes, lambda row: self._held(row, topology))
        return tuple(held.values())

    def _held(self, row: Sequence[Json], topology: Topology) -> Held:
        cached = self.held.get(row[0])
        if cached is None or cached[0] is not row:
            cached = self.held[row[0]] = (row, held_in(row, topology))
        return cached[1]

    def _account(self, ledger: Ledger, uses: Iterable[Use | None], now: float) -> None:
        """Accelerator-seconds each member state held since the record before (``uses``: each
        holding job's, in the ledger's order; None: not started)."""
        elapsed = 0.0 if self.last_now is None else max(0.0, now - self.last_now)
        self.last_now = now
        used = self.report.used
        for use in uses:
            if use is not None:
                used[use[0]] += use[1] * elapsed
        self.report.entitled = {m: float(w) for m, w in ledger.settings["shares"]["members"]}


def inputs_of(
    ledger: Ledger,
    now: float,
    topology: Topology,
    order: tuple[str, ...] = (),
    *,
    job: Callable[[Sequence[Json]], Job] = job_in,
    held: Callable[[Sequence[Json], Topology], Held] = held_in,
    holding: Callable[[Rows], tuple[Held, ...]] | None = None,
) -> CycleInputs:
    """The inputs a record chain leaves at ``now``, as the scheduler is given them (``job``, ``held``:
    how rows become jobs; the replay's keep each decoded row while it is unchanged; ``holding``: how
    the holding rows become the holding jobs, in their order, where not each by ``held``)."""
    settings, ahead = ledger.settings, ledger.settings["queue_ahead"]
    return CycleInputs(
        now=now,
        queue=tuple(job(row) for row in ledger.queue.values()),
        engines={row[0]: row[12] for row in ledger.queue.values()},
        holding=(
            tuple(held(row, topology) for row in ledger.holding.values())
            if holding is None
            else holding(ledger.holding)
        ),
        shares=shares_in(settings["shares"]),
        policy=policy_in(settings["policy"]),
        history=usage_in(settings["history"]),
        down=frozenset(ledger.down),
        ahead_engines=frozenset(ahead["engines"]),
        ahead_depth=int(ahead["depth"]),
        order=order,
    )


def differences(expected: Mapping[str, Json], recorded: Mapping[str, Json]) -> list[str]:
    """What the record says that the scheduler does not decide, per kind and job, first first."""
    out: list[str] = []
    for kind in OUTPUT_KEYS:
        want, got = _by_job(expected.get(kind, [])), _by_job(recorded.get(kind, []))
        for job_id in [*got, *(j for j in want if j not in got)]:
            if want.get(job_id) != got.get(job_id):
                said, decided = got.get(job_id), want.get(job_id)
                out.append(f"{kind} of job {job_id}: recorded {said}, the scheduler decides {decided}")
        if not out and list(want) != list(got):
            out.append(f"{kind}: recorded in the order {list(got)}, the scheduler decides {list(want)}")
    return out


def _by_job(rows: Iterable[Json]) -> dict[str, Json]:
    return {(row if isinstance(row, str) else row[0]): row for row in rows}


def replay(
    entries: Iterable[tuple[int, Mapping[str, Any]]],
    known_versions: Collection[str],
    *,
    window_s: float = DAY_S,
    max_share_gap: float | None = None,
) -> ReplayReport:
    """Replay every decision record among ``entries``; the report lists what differs, first first.
    ``window_s``: the length of the use-against-entitlement windows; ``max_share_gap``: see
    ``audit.fairness`` (None: use is reported, not checked)."""
    run = Replay(known_versions, window_s=window_s, max_share_gap=max_share_gap)
    for index, entry in entries:
        run.feed(index, entry)
    report = run.finish()
    report.problems.sort()
    return report
