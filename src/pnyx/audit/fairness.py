"""Member states' use against their entitlement, from the decision records alone (pure).

Fair share promises an order, not an amount: each cycle, waiting work goes in fair order (aged jobs
first, then priority class, then the member state furthest under its entitlement by decayed use),
and a job starts where it fits. A member's use over a day can stay under its share for reasons the
scheduler honours (its gangs did not fit, its jobs are typed for a busy pool, it used more the week
before), so a share of use is reported, not checked. What the order does guarantee is checked:

**Never passed over.** In a cycle without preemptions (they free capacity mid-cycle), a job that
starts never goes ahead of a waiting job that is before it in fair order and no harder to place:
same accelerator type, label and cross-site permission, no more accelerators, no longer estimate.
Capacity only shrinks during such a cycle, so whatever the later job found free the earlier one
found too (a reservation it had to respect would bind the later one as well).

Per window (a day unless told), each member state's accelerator-seconds, its share of all use, its
share of the entitlements and whether its jobs were waiting at every record of the window are
reported; with ``max_share_gap`` a member waiting throughout whose share of use is more than that
under its entitled share is a finding too (an alert threshold the auditor chooses, not a promise).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from pnyx.audit.wire import Json, job_in, policy_in, shares_in, usage_in
from pnyx.scheduler.fairshare import DAY_S, Span, fold, member_scores
from pnyx.scheduler.model import CLASS_RANK, Job
from pnyx.scheduler.policy import Order

Use = tuple[str, int]  # a started holding job's member state and accelerators
CLEARLY_LOWER = 1e-9  # relative: scores closer than this are a tie (sums in another order round apart)


def passed_over(
    queue: Mapping[str, Sequence[Json]],
    holding: Mapping[str, Sequence[Json]],
    settings: Mapping[str, Json],
    now: float,
    outputs: Mapping[str, Sequence[Sequence[Json]]],
    *,
    job: Callable[[Sequence[Json]], Job] = job_in,
) -> list[str]:
    """Each start that went ahead of an earlier, no harder waiting job, as a sentence naming both
    (``job``: how a row becomes a job; a caller's may keep each row's while it is unchanged)."""
    policy = policy_in(settings["policy"])
    if policy.order is not Order.FAIRSHARE or outputs.get("preemptions"):
        return []
    started = {row[0] for row in outputs.get("starts", [])}
    waiting = [job(row) for job_id, row in queue.items() if job_id not in started]
    starts = [job(queue[j]) for j in started if j in queue]
    pairs = [(k, j) for j in starts for k in waiting if _kind(k) == _kind(j) and _no_harder(k, j)]
    if not pairs:
        return []
    scores = _scores(holding, settings, now, {j.member for pair in pairs for j in pair})
    cutoff = now - policy.aging_s
    return [
        f"job {j.id} ({j.member}) started ahead of job {k.id} ({k.member}), waiting, before it in "
        f"fair order and no harder to place"
        for k, j in pairs
        if _before(k, j, scores, cutoff)
    ]


def _kind(job: Job) -> tuple[str | None, int, bool]:
    return job.accelerator_type, int(job.label), job.allow_cross_site


def _no_harder(k: Job, j: Job) -> bool:
    return k.accelerators <= j.accelerators and k.estimate_s <= j.estimate_s


def _before(k: Job, j: Job, scores: Mapping[str, float], cutoff: float) -> bool:
    """``k`` is looked at before ``j``: aged while ``j`` is not, or a better class, or (same class)
    a member clearly further under its entitlement."""
    if j.submit_s <= cutoff:
        return False  # an aged job goes ahead of fair share
    if k.submit_s <= cutoff:
        return True
    rank_k, rank_j = CLASS_RANK[k.priority_class], CLASS_RANK[j.priority_class]
    if rank_k != rank_j:
        return rank_k < rank_j
    return scores[k.member] < scores[j.member] * (1 - CLEARLY_LOWER)


def _scores(
    holding: Mapping[str, Sequence[Json]], settings: Mapping[str, Json], now: float, members: set[str]
) -> dict[str, float]:
    """Members' scores as the cycle ranked them: finished work's history plus every holding job."""
    shares = shares_in(settings["shares"])
    spans = [Span((r[4], r[5], r[6]), sum(r[15][3]), float(r[16])) for r in holding.values()]
    usage = fold(usage_in(settings["history"]), spans, now, shares.half_life_s)
    return member_scores(shares, usage, members)


@dataclass(frozen=True, slots=True, kw_only=True)
class MemberUse:
    member: str
    used_s: float  # accelerator-seconds its started jobs held in the window
    used_share: float  # of all members' use in the window
    entitled_share: float  # of the entitlements in force at the window's last record
    waiting_throughout: bool  # it had a job waiting at every record of the window


@dataclass(frozen=True, slots=True, kw_only=True)
class Window:
    start: float  # epoch seconds, a multiple of the window's length
    first_index: int  # log index of its first and last records
    last_index: int
    members: tuple[MemberUse, ...]


@dataclass(slots=True, kw_only=True)
class Windows:
    """Use per member state per window, summed record by record: the accelerators each started job
    holds at a record count for the time since the record before."""

    window_s: float = DAY_S
    start: float | None = None
    first_index: int = 0
    last_index: int = 0
    used: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    waiting: set[str] | None = None  # members waiting at every record so far
    entitled: dict[str, float] = field(default_factory=dict)
    last_now: float | None = None
    closed: list[Window] = field(default_factory=list)

    def add(
        self,
        index: int,
        now: float,
        queue: Mapping[str, Sequence[Json]],
        uses: Iterable[Use | None],
        settings: Mapping[str, Json],
    ) -> None:
        """One record: ``uses``, each holding job's in the ledger's order (``started_use``)."""
        start = math.floor(now / self.window_s) * self.window_s
        if self.start is not None and start != self.start:
            self.close()
        if self.start is None:
            self.start, self.first_index = start, index
        elapsed = 0.0 if self.last_now is None else max(0.0, now - self.last_now)
        self.last_now, self.last_index = now, index
        used = self.used
        for use in uses:
            if use is not None:
                used[use[0]] += use[1] * elapsed
        members = {row[4] for row in queue.values()}
        self.waiting = members if self.waiting is None else self.waiting & members
        self.entitled = {m: float(w) for m, w in settings["shares"]["members"]}

    def close(self) -> None:
        """End the open window (at a window boundary, and after the last record)."""
        if self.start is None:
            return
        total, weights = sum(self.used.values()), sum(self.entitled.values())
        members = tuple(
            MemberUse(
                member=m,
                used_s=self.used.get(m, 0.0),
                used_share=self.used.get(m, 0.0) / total if total > 0 else 0.0,
                entitled_share=self.entitled.get(m, 0.0) / weights if weights > 0 else 0.0,
                waiting_throughout=m in (self.waiting or set()),
            )
            for m in sorted(set(self.used) | set(self.entitled))
        )
        self.closed.append(
            Window(
                start=self.start, first_index=self.first_index, last_index=self.last_index, members=members
            )
        )
        self.start, self.used, self.waiting = None, defaultdict(float), None


def started_use(row: Sequence[Json]) -> Use | None:
    """A holding row's member state and accelerators; None where its job has not started."""
    return (row[4], sum(row[15][3])) if row[13] else None


def under_share(window: Window, max_share_gap: float) -> list[str]:
    """Members waiting throughout ``window`` whose share of use is more than the gap under their
    entitled share."""
    return [
        f"window from {window.start:.0f}: {u.member} waited throughout and used {u.used_share:.1%} "
        f"against an entitled {u.entitled_share:.1%} (more than {max_share_gap:.1%} under)"
        for u in window.members
        if u.waiting_throughout and u.used_share < u.entitled_share - max_share_gap
    ]
