"""Pure identity rules: names, role checks, token validity."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from datetime import datetime, timedelta

from pnyx.core.errors import Forbidden, InvalidInput, Unauthenticated
from pnyx.identity.model import ApiToken, Principal, Role

USER_NAME = re.compile(r"^[a-z][a-z0-9._-]{1,62}$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
TOKEN_PREFIX = "pnyx_"  # noqa: S105 (a prefix, not a secret)
MAX_TOKEN_LIFETIME = timedelta(days=366)


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


def token_lifetime(days: int) -> timedelta:
    lifetime = timedelta(days=days)
    if not timedelta(0) < lifetime <= MAX_TOKEN_LIFETIME:
        raise InvalidInput(f"a token lives 1 to {MAX_TOKEN_LIFETIME.days} days; got {days}", field="days")
    return lifetime


def hash_token(secret: str) -> str:
    """Tokens are 256-bit random secrets, so one SHA-256 is enough (no password stretching)."""
    return hashlib.sha256(secret.encode()).hexdigest()


def check_token_usable(token: ApiToken, now: datetime) -> None:
    if token.revoked_at is not None:
        raise Unauthenticated("this API token has been revoked", code="token_revoked")
    if token.expires_at <= now:
        raise Unauthenticated("this API token has expired", code="token_expired")


def require_role(principal: Principal, *allowed: Role) -> None:
    """Allow the call if the principal holds any of ``allowed``; raise 401 or 403 otherwise."""
    if not principal.authenticated:
        raise Unauthenticated("this needs an API token (Authorization: Bearer ...)")
    if not principal.roles & set(allowed):
        need = " or ".join(r.value for r in allowed)
        raise Forbidden(f"this needs the role {need}; {principal.name} has none of them")
