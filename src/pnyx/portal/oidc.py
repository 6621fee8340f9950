"""Signing in with an OpenID Connect issuer: the portal's seam (docs/adr/0011-portal-sessions.md).

The API's seam is an authenticator that turns a secret into a ``Principal``; the portal's is
``SignInProvider``, an authorization-code flow: ``/portal/sign-in/oidc`` sends the browser to the
issuer's authorization URL with a fresh ``state``, and keeps the flow on the server by that state
(``oidc_flows.py``: the provider's secret for it, where the person goes, the session they had) bound to
this browser by a random value in a short-lived cookie; ``/portal/sign-in/oidc/callback`` takes the
flow once (a replayed, forged or another browser's state finds none), has the provider turn the code
and the flow's secret into the Pnyx user it names (the provider exchanges the code, with PKCE, and
verifies the ID token and its nonce; a person unknown to Pnyx is refused), ends the session the
browser had and opens a session that asks the identity on every request whether that user may still sign
in (``IdentityService.principal_of``: a disabled user's session ends). No provider configured: no
link, and these paths are 404. ``create_app(sign_in_provider=...)`` plugs one in; the tests use a
fake issuer that approves at once, with no network.
"""

from __future__ import annotations

import secrets
from typing import Annotated, Protocol

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import RedirectResponse
from fastapi.templating import Jinja2Templates
from starlette.responses import Response

from pnyx.core.errors import NotFound, Unauthenticated
from pnyx.identity.model import Principal
from pnyx.portal.desk import PRIVATE
from pnyx.portal.sessions import current, set_cookie, store_of
from pnyx.portal.sign_in import TOO_MANY, client_key, desks_of, open_session, too_often
from pnyx.portal.sign_in_form import SIGN_IN_PAGE, render_sign_in, safe_next
from pnyx.wiring import Platform

START = SIGN_IN_PAGE + "/oidc"
CALLBACK = START + "/callback"
FLOW_COOKIE = "pnyx_oidc"  # a random value naming this browser's flow (oidc_flows.py): Lax, so the
# issuer's redirect back carries it
Param = Annotated[str, Query(max_length=2000)]


class SignInProvider(Protocol):
    """An OpenID Connect issuer, as the portal signs people in with it."""

    @property
    def issuer(self) -> str:
        """Its name on the sign-in link ("Sign in with <issuer>")."""
        ...

    def authorization_url(self, *, state: str) -> tuple[str, str]:
        """Where the browser goes to sign in (the issuer sends it back to the callback with ``state``),
        and this flow's secret (what the provider needs again with the code: a PKCE verifier, a
        nonce), which the portal keeps on the server for this browser's flow and never shows."""
        ...

    def principal(self, *, code: str, flow: str) -> Principal:
        """The Pnyx user the code's verified ID token names, the code redeemed with ``flow`` (the
        secret ``authorization_url`` gave for it); ``Unauthenticated`` for anyone else."""
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
        provider, store = provider_of(request), store_of(request)
        if not store.clients.allow(client_key(request)):
            return render_sign_in(templates, request, next_page=next, status=429, error=TOO_MANY)
        state, browser = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        url, secret = provider.authorization_url(state=state)
        before = current(request)
        replaces = before.id if before is not None else None
        store.flows.start(state, browser=browser, secret=secret, next_page=safe_next(next), replaces=replaces)
        response = RedirectResponse(url, status_code=303, headers=PRIVATE)
        response.set_cookie(
            FLOW_COOKIE,
            browser,
            max_age=int(store.flows.lifetime.total_seconds()),
            path=START,
            secure=request.url.scheme == "https",
            httponly=True,
            samesite="lax",
        )
        return response

    @router.get(CALLBACK)
    def callback(request: Request, state: Param = "", code: Param = "", error: Param = "") -> Response:
        provider, store = provider_of(request), store_of(request)
        flow = store.flows.take(state, request.cookies.get(FLOW_COOKIE, ""))
        next_page = flow.next_page if flow is not None else SIGN_IN_PAGE

        def refused(reason: str, status: int = 401) -> Response:
            response = render_sign_in(templates, request, next_page=next_page, status=status, reason=reason)
            if flow is not None:  # this browser's flow ended; a stray callback leaves the one under way
                response.delete_cookie(FLOW_COOKIE, path=START)
            return response

        if flow is None:
            return refused(
                f"the sign-in with {provider.issuer} did not start in this browser (or was used): start again"
            )
        if error or not code:
            return refused(f"{provider.issuer} did not sign you in ({error or 'no code'})")
        try:
            principal = provider.principal(code=code, flow=flow.secret)
        except Unauthenticated as exc:
            return refused(exc.message)
        if (wait := too_often(request, principal)) is not None:
            return refused(wait, 429)
        if flow.replaces is not None:
            store.close(flow.replaces)  # the session the browser had: its strict cookie was not sent here
        return _continue(templates, request, principal, next_page)

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
