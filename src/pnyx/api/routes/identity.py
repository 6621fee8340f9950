"""Users and API tokens."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, status

from pnyx.api.auth import authenticated, requires
from pnyx.api.deps import PlatformDep
from pnyx.api.schemas.identity import (
    DisableIn,
    EnrolmentIn,
    IssuedTokenOut,
    MeOut,
    RedeemIn,
    TokenIn,
    TokenOut,
    UserIn,
    UserOut,
)
from pnyx.api.schemas.storable import Ref
from pnyx.core.errors import Forbidden
from pnyx.identity.model import IssuedToken, Principal, Role

router = APIRouter(prefix="/api/v1", tags=["identity"])

Operator = Annotated[Principal, Depends(requires(Role.OPERATOR))]
OperatorOrAuditor = Annotated[Principal, Depends(requires(Role.OPERATOR, Role.AUDITOR))]
Authenticated = Annotated[Principal, Depends(authenticated)]


@router.get("/me")
def me(principal: Authenticated) -> MeOut:
    return MeOut(name=principal.name, roles=sorted(principal.roles))


@router.get("/users")
def list_users(_: OperatorOrAuditor, platform: PlatformDep) -> list[UserOut]:
    return [UserOut.of(u) for u in platform.identity.list_users()]


@router.post("/users", status_code=status.HTTP_201_CREATED)
def add_user(body: UserIn, _: Operator, platform: PlatformDep) -> UserOut:
    user = platform.identity.register_user(
        name=body.name,
        roles=[r.value for r in body.roles],
        display_name=body.display_name,
        email=body.email,
        member_state=body.member_state,
    )
    return UserOut.of(user)


@router.post("/users/{name}/disable")
def disable_user(name: Ref, body: DisableIn, principal: Operator, platform: PlatformDep) -> UserOut:
    """Disable a user: every token they hold is revoked at once, and the event logged."""
    return UserOut.of(platform.identity.disable_user(name, by=principal, reason=body.reason))


@router.post("/users/{name}/tokens", status_code=status.HTTP_201_CREATED)
def issue_token(name: Ref, body: TokenIn, principal: Authenticated, platform: PlatformDep) -> IssuedTokenOut:
    """Your own token. Nobody, operators included, creates a usable token for someone else."""
    return _shown_once(platform.identity.issue_token(name, label=body.label, days=body.days, by=principal))


@router.post("/users/{name}/enrolment", status_code=status.HTTP_201_CREATED)
def enrol(name: Ref, body: EnrolmentIn, principal: Operator, platform: PlatformDep) -> IssuedTokenOut:
    """An enrolment token for a user: it authenticates nothing; the user exchanges it once, at
    ``POST /api/v1/tokens/redeem``, for their own token."""
    return _shown_once(platform.identity.enrol(name, by=principal, label=body.label, days=body.days))


@router.post("/tokens/redeem", status_code=status.HTTP_201_CREATED)
def redeem(body: RedeemIn, platform: PlatformDep) -> IssuedTokenOut:
    """Exchange an enrolment token (used up) for your own personal token. No Authorization needed."""
    return _shown_once(platform.identity.redeem(body.secret, label=body.label, days=body.days))


def _shown_once(issued: IssuedToken) -> IssuedTokenOut:
    return IssuedTokenOut(**TokenOut.of(issued.token).model_dump(), secret=issued.secret)


@router.get("/users/{name}/tokens")
def list_tokens(name: Ref, principal: Authenticated, platform: PlatformDep) -> list[TokenOut]:
    if principal.name != name and not principal.roles & {Role.OPERATOR, Role.AUDITOR}:
        raise Forbidden("only an operator or auditor may list another user's tokens")
    return [TokenOut.of(t) for t in platform.identity.tokens_of(name)]


@router.delete("/tokens/{token_id}")
def revoke_token(token_id: Ref, principal: Authenticated, platform: PlatformDep) -> TokenOut:
    return TokenOut.of(platform.identity.revoke_token(token_id, by=principal))
