"""Identity: users with roles, and the API tokens they authenticate with."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from pnyx.core.events import DomainEvent
from pnyx.core.ids import TokenId, UserId


class Role(StrEnum):
    OPERATOR = "operator"
    DELEGATE = "delegate"
    REVIEWER = "reviewer"
    RESEARCHER = "researcher"
    SAFETY_OFFICER = "safety-officer"
    AUDITOR = "auditor"


@dataclass(frozen=True, slots=True, kw_only=True)
class User:
    id: UserId
    name: str
    display_name: str
    email: str
    roles: frozenset[Role]
    member_state: str | None
    created_at: datetime
    disabled: bool = False


class TokenKind(StrEnum):
    PERSONAL = "personal"  # minted by its own user: the only kind that authenticates
    ENROLMENT = "enrolment"  # made by an operator; authenticates nothing; exchanged once for a personal one


@dataclass(frozen=True, slots=True, kw_only=True)
class ApiToken:
    id: TokenId
    user_id: UserId
    label: str
    created_at: datetime
    expires_at: datetime
    issued_by: UserId  # who created it: the user itself, or the operator who enrolled them
    kind: TokenKind = TokenKind.PERSONAL
    revoked_at: datetime | None = None
    suspended_at: datetime | None = None  # suspended (reversibly, e.g. by a safety incident)
    suspended_reason: str | None = None

    def active_at(self, now: datetime) -> bool:
        """The one "counts as active" predicate: not revoked (nor redeemed) and not expired.

        A suspended token still counts (it holds its place in the quota and bars an enrolment); it
        authenticates nothing until it is restored."""
        return self.revoked_at is None and now < self.expires_at

    @property
    def suspended(self) -> bool:
        return self.suspended_at is not None


@dataclass(frozen=True, slots=True, kw_only=True)
class Principal:
    """Who is calling. The public is ``ANONYMOUS``: no user, no roles."""

    user_id: UserId | None
    name: str
    roles: frozenset[Role]

    @property
    def authenticated(self) -> bool:
        return self.user_id is not None


ANONYMOUS = Principal(user_id=None, name="public", roles=frozenset())

# Whoever runs the CLI on the facility's own machine acts as its operator.
LOCAL_CONSOLE = Principal(
    user_id=UserId("local-console"), name="local-console", roles=frozenset({Role.OPERATOR})
)


@dataclass(frozen=True, slots=True, kw_only=True)
class IssuedToken:
    """A token as shown once, at creation: the secret is never stored or shown again."""

    token: ApiToken
    secret: str


# Events. No secrets and no token hashes ever go into an event: the log is public.


@dataclass(frozen=True, slots=True, kw_only=True)
class UserRegistered(DomainEvent):
    event_type = "identity.user.registered"
    user_id: str
    name: str
    roles: tuple[str, ...]
    member_state: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class UserRolesChanged(DomainEvent):
    event_type = "identity.user.roles_changed"
    user_id: str
    roles: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class TokenIssued(DomainEvent):
    """``issued_by`` is the user itself for a personal token, the operator for an enrolment token."""

    event_type = "identity.token.issued"
    token_id: str
    user_id: str
    issued_by: str
    kind: str
    expires_at: datetime
    enrolment_token_id: str | None = None  # the enrolment token exchanged (and so used up) for this one


@dataclass(frozen=True, slots=True, kw_only=True)
class TokenRevoked(DomainEvent):
    event_type = "identity.token.revoked"
    token_id: str
    user_id: str
    revoked_by: str


@dataclass(frozen=True, slots=True, kw_only=True)
class TokenSuspended(DomainEvent):
    """A live token suspended, reversibly (a safety incident's containment): no secret, the reason."""

    event_type = "identity.token.suspended"
    token_id: str
    user_id: str
    reason: str
    suspended_by: str


@dataclass(frozen=True, slots=True, kw_only=True)
class TokenRestored(DomainEvent):
    event_type = "identity.token.restored"
    token_id: str
    user_id: str
    restored_by: str


@dataclass(frozen=True, slots=True, kw_only=True)
class UserDisabled(DomainEvent):
    event_type = "identity.user.disabled"
    user_id: str
    disabled_by: str
    reason: str
    revoked_tokens: tuple[str, ...]
