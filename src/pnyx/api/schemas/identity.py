"""Identity request and response bodies."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from pnyx.api.schemas.storable import Str
from pnyx.identity.model import ApiToken, Role, TokenKind, User
from pnyx.identity.rules import MAX_ENROLMENT_LIFETIME, MAX_TOKEN_LIFETIME


class UserIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Str = Field(min_length=2, max_length=63, examples=["ada"])
    roles: list[Role] = Field(min_length=1)
    display_name: Str | None = Field(default=None, max_length=200)
    email: Str | None = Field(default=None, max_length=320)
    member_state: Str | None = Field(default=None, min_length=2, max_length=2)


class UserOut(BaseModel):
    id: str
    name: str
    display_name: str
    email: str
    roles: list[Role]
    member_state: str | None
    created_at: datetime
    disabled: bool

    @classmethod
    def of(cls, user: User) -> UserOut:
        return cls(
            id=user.id,
            name=user.name,
            display_name=user.display_name,
            email=user.email,
            roles=sorted(user.roles),
            member_state=user.member_state,
            created_at=user.created_at,
            disabled=user.disabled,
        )


class DisableIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: Str = Field(default="", max_length=500, description="Recorded in the public log")


class TokenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    label: Str = Field(default="", max_length=200)
    days: int = Field(default=90, ge=1, le=MAX_TOKEN_LIFETIME.days)


class EnrolmentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    label: Str = Field(default="", max_length=200)
    days: int = Field(default=7, ge=1, le=MAX_ENROLMENT_LIFETIME.days)


class RedeemIn(TokenIn):
    secret: Str = Field(min_length=1, max_length=200, description="The enrolment token an operator gave you")


class TokenOut(BaseModel):
    id: str
    user_id: str
    label: str
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    kind: TokenKind
    issued_by: str
    suspended_at: datetime | None = Field(
        default=None, description="Suspended (reversibly, e.g. by a safety incident): it answers 401"
    )
    suspended_reason: str | None = None

    @classmethod
    def of(cls, token: ApiToken) -> TokenOut:
        return cls(
            id=token.id,
            user_id=token.user_id,
            label=token.label,
            created_at=token.created_at,
            expires_at=token.expires_at,
            revoked_at=token.revoked_at,
            kind=token.kind,
            issued_by=token.issued_by,
            suspended_at=token.suspended_at,
            suspended_reason=token.suspended_reason,
        )


class IssuedTokenOut(TokenOut):
    secret: str = Field(description="Shown once. Send as 'Authorization: Bearer <secret>'.")


class MeOut(BaseModel):
    name: str
    roles: list[Role]
