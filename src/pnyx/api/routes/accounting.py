"""Usage and entitlements: public per-state comparison; usage records written by operators/dispatch."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Depends, Query, status

from pnyx.accounting.model import Dimension
from pnyx.api.auth import CurrentPrincipal, requires
from pnyx.api.deps import PlatformDep
from pnyx.api.schemas.accounting import (
    MemberStateReportOut,
    MemberStateUsageOut,
    StandingOut,
    UsageGroupOut,
    UsageIn,
    UsageOut,
)
from pnyx.api.schemas.storable import Ref
from pnyx.core.errors import Forbidden
from pnyx.identity.model import Principal, Role

router = APIRouter(prefix="/api/v1/accounting", tags=["accounting"])
Operator = Annotated[Principal, Depends(requires(Role.OPERATOR))]
PeriodQuery = Annotated[
    str, Query(max_length=40, description="2026-11, 2026-Q4, 2026, 2026-11-01..2026-11-30, last-30d")
]


@router.get("/member-states")
def member_states(platform: PlatformDep, period: PeriodQuery = "last-30d") -> MemberStateReportOut:
    """Public: each member state's use against its entitlement over the period."""
    p = platform.accounting.period(period)
    rows = platform.accounting.member_states(p)
    return MemberStateReportOut(
        period=p.label,
        start=p.start,
        end=p.end,
        utilisation=platform.accounting.utilisation(p).quantize(Decimal("0.0001")),
        states=[MemberStateUsageOut.of(r) for r in rows],
    )


@router.get("/usage")
def usage(
    platform: PlatformDep, by: Dimension = Dimension.MEMBER_STATE, period: PeriodQuery = "last-30d"
) -> list[UsageGroupOut]:
    """Public: use grouped by member state, pool, call, discipline or accelerator type.

    Grouping by project is for operators and auditors (use /projects/{id})."""
    if by is Dimension.PROJECT:
        raise Forbidden("per-project usage is not public; ask for /projects/{id} with an operator token")
    return [UsageGroupOut.of(g) for g in platform.accounting.usage(platform.accounting.period(period), by)]


@router.get("/projects/{project_id}")
def project_standing(project_id: Ref, principal: CurrentPrincipal, platform: PlatformDep) -> StandingOut:
    """For the project's team (its PI and confirmed members), operators and auditors."""
    team = platform.awards.team(project_id)
    return StandingOut.of(platform.accounting.standing_for(principal, project_id, team))


@router.post("/usage", status_code=status.HTTP_201_CREATED)
def record_usage(body: UsageIn, _: Operator, platform: PlatformDep) -> UsageOut:
    record = platform.accounting.record_usage(**body.model_dump())
    return UsageOut.of(record)
