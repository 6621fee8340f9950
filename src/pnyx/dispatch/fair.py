"""The dispatcher's fair-share inputs, the twin's: shares in force with award weights, and history.

Each cycle the plan gets (``PlanInputs``) the member states' entitlements in force, each member's
projects weighted by their awarded hours (``scheduler.fairshare.award_shares``, as the simulator
builds its shares), and the decayed usage of finished work (``UsageLedger``: the accounting ledger).
The history is folded incrementally with the simulator's own rule (``scheduler.fairshare.fold``):
the first cycle folds every record, later ones only the records not folded yet among those that
ended since ``LATE_S`` before the last fold (a record written late, by a usage retry, still counts).
The work holding accelerators now is added by the plan itself, from the jobs it reads.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Protocol

from pnyx.dispatch.plan import Carrier, PlanInputs, QueueAhead
from pnyx.dispatch.views import JobViews
from pnyx.jobs.model import JobRecord
from pnyx.scheduler.capacity import Capacity
from pnyx.scheduler.fairshare import HALF_LIFE_S, Span, Usage, award_shares, fold
from pnyx.scheduler.policy import Policy
from pnyx.scheduler.topology import Topology

LATE_S = 86_400.0  # how late a finished job's usage record may be written and still be folded in
SharesAt = Callable[[datetime], Mapping[str, Decimal]]  # member-state entitlements in force


class UsageLedger(Protocol):
    """Where finished work and awards come from (production: ``wiring.FacilityLedger``, which reads
    the accounting ledger and the allocations in force)."""

    def finished(
        self, ended_since: datetime | None, known: Collection[str] = ()
    ) -> Sequence[tuple[str, Span]]:
        """(record id, span) of the work that ended at or after ``ended_since`` (None: all), less the
        records ``known`` (by id)."""
        ...

    def awards(self, at: datetime) -> Iterable[tuple[str, str, float]]:
        """(member state, project, awarded hours) of the allocations active at ``at``."""
        ...


class NoLedger:
    """No ledger wired in: no history, no awards (every project weighs the same)."""

    def finished(
        self, ended_since: datetime | None, known: Collection[str] = ()
    ) -> Sequence[tuple[str, Span]]:
        return ()

    def awards(self, at: datetime) -> Iterable[tuple[str, str, float]]:
        return ()


class UsageHistory:
    """Finished work's decayed usage, folded incrementally from the ledger."""

    def __init__(self, ledger: UsageLedger, half_life_s: float = HALF_LIFE_S) -> None:
        self.ledger, self.half_life_s = ledger, half_life_s
        self.usage: Usage | None = None  # None until the first full fold
        self.folded: dict[str, float] = {}  # record id -> end (s), for records inside the late window

    def at(self, now: datetime) -> Usage:
        since = None if self.usage is None else _time(self.usage.at - LATE_S)
        found = self.ledger.finished(since, self.folded.keys())  # those folded already are not read
        fresh = [(rid, span) for rid, span in found if rid not in self.folded]
        now_s = now.timestamp()
        self.usage = fold(self.usage or Usage(), [s for _, s in fresh], now_s, self.half_life_s)
        self.folded.update((rid, span.end_s or now_s) for rid, span in fresh)
        self.folded = {rid: end for rid, end in self.folded.items() if end >= now_s - LATE_S}
        return self.usage


class FairShare:
    """The plan's inputs each cycle: shares in force with award weights, and the usage history."""

    def __init__(self, shares: SharesAt, ledger: UsageLedger | None = None) -> None:
        self.shares, self.ledger = shares, ledger or NoLedger()
        self.history = UsageHistory(self.ledger)
        self._blank: tuple[Topology, Capacity] | None = None  # the plan copies it instead of rebuilding
        self.views = JobViews()  # each job as the scheduler sees it, kept while its record is the same
        self.carrier = Carrier()  # the capacity the holding jobs leave, changed from plan to plan

    def blank(self, topology: Topology) -> Capacity:
        """The topology's capacity with nothing taken, built once per topology (15 ms at 100,000
        accelerators, against about 1 ms for the copy each plan takes)."""
        if self._blank is None or self._blank[0] is not topology:
            self._blank = (topology, Capacity(topology))
        return self._blank[1]

    @classmethod
    def of(cls, shares: SharesAt | FairShare) -> FairShare:
        """``shares`` as they are, or the entitlements alone (no history, no awards)."""
        return shares if isinstance(shares, FairShare) else cls(shares)

    def inputs(
        self,
        topology: Topology,
        active: Sequence[JobRecord],
        now: datetime,
        policy: Policy,
        ahead: QueueAhead,
    ) -> PlanInputs:
        members = {member: float(share) for member, share in self.shares(now).items()}
        return PlanInputs(
            topology=topology,
            active=tuple(active),
            now=now,
            shares=award_shares(members, self.ledger.awards(now), half_life_s=self.history.half_life_s),
            history=self.history.at(now),
            policy=policy,
            ahead=ahead,
            blank=self.blank(topology),
            views=self.views,
            carrier=self.carrier,
        )


def _time(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, tz=UTC)
