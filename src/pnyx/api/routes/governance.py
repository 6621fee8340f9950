"""Member states (public to read; operators admit)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, status

from pnyx.api.auth import requires
from pnyx.api.deps import PlatformDep
from pnyx.api.schemas.governance import MemberStateIn, MemberStateOut
from pnyx.governance.rules import contribution_shares
from pnyx.identity.model import Principal, Role

router = APIRouter(prefix="/api/v1/member-states", tags=["governance"])
Operator = Annotated[Principal, Depends(requires(Role.OPERATOR))]


@router.get("")
def list_member_states(platform: PlatformDep) -> list[MemberStateOut]:
    states = platform.member_states.list()
    shares = contribution_shares(states)
    return [MemberStateOut.of(s, float(shares[s.code])) for s in states]


@router.post("", status_code=status.HTTP_201_CREATED)
def admit_member_state(body: MemberStateIn, _: Operator, platform: PlatformDep) -> MemberStateOut:
    state = platform.member_states.admit(
        code=body.code,
        name=body.name,
        contribution_minor_units=body.contribution_minor_units,
        currency=body.currency,
        population=body.population,
        joined_on=body.joined_on,
    )
    shares = contribution_shares(platform.member_states.list())
    return MemberStateOut.of(state, float(shares[state.code]))
