"""The auth seam: a bearer token becomes a Principal; routes declare the roles they need.

Another authenticator (OIDC) only has to turn a request into the same ``Principal``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Protocol

from fastapi import Depends, Request

from pnyx.core.errors import Unauthenticated
from pnyx.identity.model import ANONYMOUS, Principal, Role
from pnyx.identity.rules import require_role


class Authenticator(Protocol):
    def authenticate(self, secret: str) -> Principal: ...


def current_principal(request: Request) -> Principal:
    header = request.headers.get("authorization")
    if header is None:
        return ANONYMOUS
    scheme, _, secret = header.partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise Unauthenticated("the Authorization header must be 'Bearer <token>'", field="Authorization")
    authenticator: Authenticator = request.app.state.authenticator
    return authenticator.authenticate(secret.strip())


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def requires(*roles: Role) -> Callable[[Principal], Principal]:
    """A dependency that admits callers holding any of ``roles``."""

    def check(principal: CurrentPrincipal) -> Principal:
        require_role(principal, *roles)
        return principal

    return check


def authenticated(principal: CurrentPrincipal) -> Principal:
    require_role(principal, *Role)
    return principal
