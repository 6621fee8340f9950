"""Pure identity rules: names, role checks, token validity."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from datetime import datetime, timedelta

from pnyx.core.errors import Conflict, Forbidden, InvalidInput, Unauthenticated
from pnyx.identity.model import ApiToken, Principal, Role, TokenKind, User

USER_NAME = re.compile(r"^[a-z][a-z0-9._-]{1,62}$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
TOKEN_PREFIX = "pnyx_"  # noqa: S105 (a prefix, not a secret)
ENROLMENT_PREFIX = "pnyx_enrol_"
MAX_TOKEN_LIFETIME = timedelta(days=366)
MAX_ENROLMENT_LIFETIME = timedelta(days=7)
# Per user: tokens (enrolments included) that may be active at once, and created in any one hour.
MAX_ACTIVE_TOKENS = 10
MAX_TOKENS_PER_HOUR = 5
MAX_REASON = 300  # a suspension's reason, as stored and logged


def validate_user_name(name: str) -> str:
    if not USER_NAME.match(name):
        raise InvalidInput(
            "a user name is 2-63 characters of lowercase letters, digits, '.', '_' or '-', "
            f"starting with a letter; got {name!r}",
            field="name",
        )
    return name


def validate_email(email: str) -> str:
    if not EMAIL.match(email):
        raise InvalidInput(f"not an e-mail address: {email!r}", field="email")
    return email


def parse_roles(names: Iterable[str]) -> frozenset[Role]:
    roles = set()
    for name in names:
        try:
            roles.add(Role(name.strip()))
        except ValueError:
            allowed = ", ".join(r.value for r in Role)
            raise InvalidInput(f"unknown role {name!r}; roles are: {allowed}", field="roles") from None
    if not roles:
        raise InvalidInput("a user needs at least one role", field="roles")
    return frozenset(roles)


def token_lifetime(days: int, kind: TokenKind = TokenKind.PERSONAL) -> timedelta:
    longest = MAX_ENROLMENT_LIFETIME if kind is TokenKind.ENROLMENT else MAX_TOKEN_LIFETIME
    lifetime = timedelta(days=days)
    if not timedelta(0) < lifetime <= longest:
        raise InvalidInput(f"{kind.value} tokens live 1 to {longest.days} days; got {days}", field="days")
    return lifetime


def check_may_mint(user: User, by: Principal | None) -> None:
    """A usable (personal) token is minted by its own user only: nobody obtains one for someone else.

    ``by=None`` is the user in person (a trusted in-process caller); the edges always pass the caller.
    """
    check_enabled(user)
    if by is not None and by.user_id != user.id:
        raise Forbidden(
            f"nobody creates a usable token for someone else; an operator creates an enrolment token "
            f"for {user.name}, who exchanges it once for their own",
            field="name",
            code="not_in_person",
        )


def check_may_enrol(user: User, by: Principal, tokens: Iterable[ApiToken], now: datetime) -> None:
    """An operator enrols a user who holds no live token, and only then.

    An enrolment for a user who already holds tokens would let the operator redeem it and act as that
    user unnoticed. A user who lost their tokens has them revoked first (logged, and their tokens stop
    working, so the user sees it), then is enrolled again."""
    require_role(by, Role.OPERATOR)
    check_enabled(user)
    live = sum(1 for t in tokens if t.active_at(now))
    if live:
        raise Conflict(
            f"{user.name} holds {live} live token(s) or a pending enrolment: enrolment is only for a user "
            f"without one; revoke theirs first (`pnyx token revoke ID`), which they will notice",
            field="name",
            code="user_has_tokens",
        )


def check_enabled(user: User) -> None:
    if user.disabled:
        raise Conflict(f"user {user.name} is disabled", field="name", code="user_disabled")


def check_token_quota(tokens: Iterable[ApiToken], now: datetime) -> None:
    """Per user: at most ``MAX_ACTIVE_TOKENS`` active and ``MAX_TOKENS_PER_HOUR`` created in the last hour."""
    held = list(tokens)
    if sum(1 for t in held if t.active_at(now)) >= MAX_ACTIVE_TOKENS:
        raise Conflict(
            f"a user holds at most {MAX_ACTIVE_TOKENS} active tokens; revoke one first",
            field="active_tokens",
            code="token_limit",
        )
    if sum(1 for t in held if t.created_at > now - timedelta(hours=1)) >= MAX_TOKENS_PER_HOUR:
        raise Conflict(
            f"at most {MAX_TOKENS_PER_HOUR} tokens are created per user per hour; try again later",
            field="tokens_per_hour",
            code="token_rate_limit",
        )


def hash_token(secret: str) -> str:
    """Tokens are 256-bit random secrets, so one SHA-256 is enough (no password stretching)."""
    return hashlib.sha256(secret.encode()).hexdigest()


def check_token_usable(token: ApiToken, now: datetime) -> None:
    if token.kind is TokenKind.ENROLMENT:
        raise Unauthenticated(
            "an enrolment token authenticates nothing: exchange it once for your own token "
            "(POST /api/v1/tokens/redeem or `pnyx token redeem`)",
            code="enrolment_token",
        )
    _check_live(token, now)


def check_redeemable(token: ApiToken | None, now: datetime) -> ApiToken:
    if token is None or token.kind is not TokenKind.ENROLMENT:
        raise Unauthenticated("not an enrolment token", field="secret", code="enrolment_unknown")
    _check_live(token, now)
    return token


def _check_live(token: ApiToken, now: datetime) -> None:
    if token.revoked_at is not None:
        raise Unauthenticated("this API token has been revoked or used", code="token_revoked")
    if token.expires_at <= now:
        raise Unauthenticated("this API token has expired", code="token_expired")
    if token.suspended:
        raise Unauthenticated(
            f"this API token is suspended ({token.suspended_reason or 'no reason given'}); "
            "it works again once the suspension is lifted",
            code="token_suspended",
        )


def check_none_suspended(user: User, tokens: Iterable[ApiToken], now: datetime) -> None:
    """No new token while one of the user's live tokens is suspended: a suspension is not undone by
    minting or redeeming another one."""
    if any(t.suspended and t.active_at(now) for t in tokens):
        raise Conflict(
            f"{user.name}'s tokens are suspended; no new token until the suspension is lifted",
            field="name",
            code="tokens_suspended",
        )


def suspension_reason(reason: str) -> str:
    """Why tokens are suspended: 1-300 characters, no NUL; it goes to the public log."""
    text = reason.strip()
    if not text or len(text) > MAX_REASON or "\x00" in text:
        raise InvalidInput(f"a suspension has a reason of 1-{MAX_REASON} characters", field="reason")
    return text


def require_role(principal: Principal, *allowed: Role) -> None:
    """Allow the call if the principal holds any of ``allowed``; raise 401 or 403 otherwise."""
    if not principal.authenticated:
        raise Unauthenticated("this needs an API token (Authorization: Bearer ...)")
    if not principal.roles & set(allowed):
        need = " or ".join(r.value for r in allowed)
        raise Forbidden(f"this needs the role {need}; {principal.name} has none of them")
