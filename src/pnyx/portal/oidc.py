"""Signing in with an OpenID Connect issuer: the portal's seam (docs/adr/0011-portal-sessions.md).

The API's seam is an authenticator that turns a secret into a ``Principal``; the portal's is
``SignInProvider``, an authorization-code flow: ``/portal/sign-in/oidc`` sends the browser to the
issuer's authorization URL with a fresh ``state`` (kept in a short-lived cookie for this flow only), and
``/portal/sign-in/oidc/callback`` checks the state, has the provider turn the code into the Pnyx user
it names (the provider exchanges the code and verifies the ID token; a person unknown to Pnyx is
refused) and opens a session that asks the identity on every request whether that user may still sign
in (``IdentityService.principal_of``: a disabled user's session ends). No provider configured: no
link, and these paths are 404. ``create_app(sign_in_provider=...)`` plugs one in; the tests use a
fake issuer that approves at once, with no network.
"""

from __future__ import annotations

import hmac
import secrets
from typing import Annotated, Protocol

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import RedirectResponse
from fastapi.templating import Jinja2Templates
from starlette.responses import Response

from pnyx.core.errors import NotFound, Unauthenticated
from pnyx.identity.model import Principal
from pnyx.portal.desk import PRIVATE
from pnyx.portal.sessions import set_cookie, store_of
from pnyx.portal.sign_in import desks_of, open_session
from pnyx.portal.sign_in_form import SIGN_IN_PAGE, render_sign_in, safe_next
from pnyx.wiring import Platform

START = SIGN_IN_PAGE + "/oidc"
CALLBACK = START + "/callback"
FLOW_COOKIE = "pnyx_oidc"  # "<state> <next>": Lax, so the issuer's redirect back carries it
FLOW_SECONDS = 600
Param = Annotated[str, Query(max_length=2000)]


class SignInProvider(Protocol):
    """An OpenID Connect issuer, as the portal signs people in with it."""

    @property
    def issuer(self) -> str:
        """Its name on the sign-in link ("Sign in with <issuer>")."""
        ...

    def authorization_url(self, *, state: str) -> str:
        """Where the browser goes to sign in; the issuer sends it back to the callback with ``state``."""
        ...

    def principal(self, *, code: str) -> Principal:
        """The Pnyx user the code's verified ID token names; ``Unauthenticated`` for anyone else."""
        ...


def provider_of(request: Request) -> SignInProvider:
    provider: SignInProvider | None = getattr(request.app.state, "sign_in_provider", None)
    if provider is None:
        raise HTTPException(404, "this portal signs in with API tokens only")
    return provider


def still_allowed(platform: Platform, name: str) -> Principal:
    """The user as they are now; a disabled or removed one may not stay signed in."""
    try:
        return platform.identity.principal_of(name)
    except NotFound:
        raise Unauthenticated(f"there is no user {name!r} any more", code="user_unknown") from None


def oidc_pages(templates: Jinja2Templates) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get(START)
    def start(request: Request, next: Param = "") -> Response:
        provider = provider_of(request)
        state = secrets.token_urlsafe(24)
        response = RedirectResponse(provider.authorization_url(state=state), status_code=303, headers=PRIVATE)
        response.set_cookie(
            FLOW_COOKIE,
            f"{state} {safe_next(next)}",
            max_age=FLOW_SECONDS,
            path=START,
            secure=request.url.scheme == "https",
            httponly=True,
            samesite="lax",
        )
        return response

    @router.get(CALLBACK)
    def callback(request: Request, state: Param = "", code: Param = "", error: Param = "") -> Response:
        provider = provider_of(request)
        expected, _, next_page = request.cookies.get(FLOW_COOKIE, "").partition(" ")

        def refused(reason: str) -> Response:
            return render_sign_in(templates, request, next_page=next_page, status=401, reason=reason)

        if not expected or not hmac.compare_digest(state.encode(), expected.encode()):
            return refused(
                f"the sign-in with {provider.issuer} did not start in this browser: start it again"
            )
        if error or not code:
            return refused(f"{provider.issuer} did not sign you in ({error or 'no code'})")
        try:
            principal = provider.principal(code=code)
        except Unauthenticated as exc:
            return refused(exc.message)
        return _continue(templates, request, principal, safe_next(next_page))

    return router


def _continue(templates: Jinja2Templates, request: Request, principal: Principal, next_page: str) -> Response:
    """The session, and a page that links on to ``next_page``: not a redirect, since a browser sends
    no SameSite=Strict cookie along a chain of redirects that began at the issuer's site."""
    platform: Platform = request.app.state.platform
    session = open_session(
        request, principal, lambda: still_allowed(platform, principal.name), next_page, None
    )
    shown = {"who": principal, "csrf": session.csrf, "desks": desks_of(principal), "continue_to": next_page}
    response = templates.TemplateResponse(request, "sign_in.html", shown, headers=PRIVATE)
    set_cookie(response, request, session, store_of(request).lifetime)
    response.delete_cookie(FLOW_COOKIE, path=START)
    return response
