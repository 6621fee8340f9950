"""What the scheduler and accounting read from allocations: active projects, shares, balances."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal

from pnyx.allocation.model import Allocation, Balance, ProjectShare
from pnyx.core.units import AcceleratorHours
from pnyx.governance.policy import Pool


def active(allocations: Sequence[Allocation], at: datetime) -> list[Allocation]:
    return [a for a in allocations if a.active_at(at)]


def project_shares(allocations: Sequence[Allocation], at: datetime) -> list[ProjectShare]:
    """Each active project's hours relative to all active hours of its pool (sums to 1 per pool)."""
    live = active(allocations, at)
    pool_totals: defaultdict[Pool, Decimal] = defaultdict(Decimal)
    for a in live:
        pool_totals[a.pool] += a.total.value
    return [
        ProjectShare(
            project_id=a.project_id,
            pool=a.pool,
            member_state=a.member_state,
            hours=a.total,
            share_of_pool=a.total.value / pool_totals[a.pool] if pool_totals[a.pool] else Decimal(0),
        )
        for a in sorted(live, key=lambda a: a.project_id)
    ]


def balance(allocation: Allocation, charged: Mapping[str, AcceleratorHours]) -> Balance:
    """Granted minus charged per accelerator type. Use beyond the grant shows as ``overdrawn``
    (accounting drops such a project to opportunistic priority; running work is not cut)."""
    kinds = sorted(set(allocation.hours) | set(charged))
    zero = AcceleratorHours(Decimal(0))
    remaining: dict[str, AcceleratorHours] = {}
    overdrawn: dict[str, AcceleratorHours] = {}
    for kind in kinds:
        diff = allocation.hours.get(kind, zero).value - charged.get(kind, zero).value
        remaining[kind] = AcceleratorHours(max(diff, Decimal(0)))
        overdrawn[kind] = AcceleratorHours(max(-diff, Decimal(0)))
    return Balance(
        project_id=allocation.project_id,
        granted=dict(allocation.hours),
        charged={k: charged.get(k, zero) for k in kinds},
        remaining=remaining,
        overdrawn=overdrawn,
    )
