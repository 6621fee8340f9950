"""Scheduling policies: the full policy and the two baselines it is measured against."""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

from pnyx.core.errors import InvalidInput


class Order(StrEnum):
    FIFO = "fifo"  # submit order, classes ignored
    FAIRSHARE = "fairshare"  # aged jobs, then class, then hierarchical fair share, then submit order


class Backfill(StrEnum):
    NONE = "none"  # strict head of line: the first job that does not fit blocks all behind it
    EASY = "easy"  # one reservation, for the first blocked job
    CONSERVATIVE = "conservative"  # a reservation for every blocked job, up to ``reservations``


@dataclass(frozen=True, slots=True, kw_only=True)
class Policy:
    name: str
    order: Order = Order.FAIRSHARE
    backfill: Backfill = Backfill.EASY
    preemption: bool = True
    aging_s: float = 2 * 86_400.0  # bounded wait: past this a job goes ahead of fair share
    reservations: int = 1
    preemption_attempts: int = 8  # blocked jobs per cycle that may try to preempt
    max_victims: int = 512  # victims one job may ask for before preemption gives up
    reservation_reuse_s: float = 600.0  # a remembered reservation is replayed afresh after this
    # A reservation that would idle capacity longer than this while it drains is not made (the job
    # waits without one until it is aged, then it always gets one): trades the wait of the very
    # largest gangs for utilisation. inf: EASY as usual.
    max_drain_s: float = math.inf
    depth: int = 2_000  # jobs looked at per cycle, like Slurm's bf_max_job_test (default 500)

    @property
    def reservation_limit(self) -> int:
        return {Backfill.NONE: 0, Backfill.EASY: 1, Backfill.CONSERVATIVE: self.reservations}[self.backfill]


POLICIES: dict[str, Policy] = {
    "full": Policy(name="full"),
    "fifo-backfill": Policy(
        name="fifo-backfill", order=Order.FIFO, backfill=Backfill.EASY, preemption=False, aging_s=math.inf
    ),
    "fifo": Policy(name="fifo", order=Order.FIFO, backfill=Backfill.NONE, preemption=False, aging_s=math.inf),
}


def policy_named(name: str) -> Policy:
    try:
        return POLICIES[name]
    except KeyError:
        known = ", ".join(POLICIES)
        raise InvalidInput(f"unknown policy {name!r}; known: {known}", field="policy") from None
