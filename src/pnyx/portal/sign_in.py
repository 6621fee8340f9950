"""Signing in to the portal and out (docs/adr/0011-portal-sessions.md): ``/portal/sign-in`` takes an
API token from a plain form, asks the identity who it is (``IdentityService.authenticate``, the API's
authenticator) and opens a session (``sessions.py``) that asks again on every request; ``/portal/sign-out``
ends it. An OpenID Connect issuer, where one is configured, signs people in through ``oidc.py``.
"""

from __future__ import annotations

import hmac
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import RedirectResponse
from fastapi.templating import Jinja2Templates
from starlette.responses import Response

from pnyx.core.errors import Unauthenticated
from pnyx.identity.model import Principal, Role
from pnyx.portal.deps import MAX_FIELD_CHARS, MAX_FIELDS, FormFields, PlatformDep, read_form
from pnyx.portal.desk import PRIVATE, Outcome, Posted
from pnyx.portal.sessions import (
    Check,
    PortalSession,
    clear_cookie,
    current,
    session_visitor,
    set_cookie,
    store_of,
)
from pnyx.portal.sign_in_form import (
    KEPT,
    SIGN_IN_COOKIE,
    SIGN_IN_PAGE,
    Kept,
    render_sign_in,
    safe_next,
)

SIGN_OUT = "/portal/sign-out"
KEPT_NOTE = "A form was carried over from before you signed in: check every field before posting it."
KEPT_CHARS = MAX_FIELDS * MAX_FIELD_CHARS  # the most a desk's form holds: more is not kept
TOO_MANY = "too many sign-ins from your address in a minute: wait a minute and sign in again"
ENDED = {"signed-out": "You are signed out."}
DESKS = {  # each role's pages, as the navigation names them
    Role.DELEGATE: [("/portal/delegate", "Delegate's desk")],
    Role.REVIEWER: [("/portal/review", "Reviews")],
    Role.RESEARCHER: [("/portal/research", "Research"), ("/portal/jobs", "My jobs")],
    Role.OPERATOR: [("/portal/operator", "Operations"), ("/portal/jobs", "My jobs")],
    Role.AUDITOR: [("/portal/audit", "Audit")],
    Role.SAFETY_OFFICER: [("/portal/safety/queue", "Safety queue")],
}
Next = Annotated[str, Query(max_length=2000)]
Ended = Annotated[str, Query(max_length=40)]


async def sign_in_fields(request: Request) -> dict[str, str]:
    """The sign-in form: the token, where to go, and the fields of a form it keeps."""
    return await read_form(request, 2 * MAX_FIELDS + 4)


SignInFields = Annotated[dict[str, str], Depends(sign_in_fields)]


def desks_of(who: Principal) -> list[tuple[str, str]]:
    return list(dict.fromkeys(d for role in sorted(who.roles) for d in DESKS.get(role, [])))


def open_session(
    request: Request, principal: Principal, check: Check, next_page: str, kept: Kept | None
) -> PortalSession:
    """A new session for ``principal`` (a new id at every sign-in; the one before ends), with a note
    holding what a kept form held for the page it was on."""
    store = store_of(request)
    before = current(request)
    if before is not None:
        store.close(before.id)
    session = store.open(principal, check)
    if kept:
        posted = Posted(kept[0], kept[1])
        store.leave_note(session.id, urlsplit(next_page).path, Outcome(done=KEPT_NOTE, kept=posted))
    return session


def signed_in(request: Request, session: PortalSession, next_page: str) -> Response:
    """The way to ``next_page`` with the session's cookie."""
    response = RedirectResponse(next_page, status_code=303, headers=PRIVATE)
    set_cookie(response, request, session, store_of(request).lifetime)
    return response


def kept_form(fields: dict[str, str]) -> Kept | None:
    """The form the sign-in carries, if it is no bigger than a desk's form can be."""
    values = {k.removeprefix(KEPT): v for k, v in fields.items() if k.startswith(KEPT)}
    form = fields.get("kept-form", "")
    size = len(form) + sum(len(k) + len(v) for k, v in values.items())
    return (form, values) if form and len(values) <= MAX_FIELDS and size <= KEPT_CHARS else None


def client_key(request: Request) -> str:
    """Whom the sign-in throttle counts an attempt against: the client's address (behind a proxy,
    the one the proxy forwards, as uvicorn reads it)."""
    return f"client:{request.client.host if request.client else '-'}"


def too_often(request: Request, principal: Principal) -> str | None:
    """Why ``principal`` may not open another session yet (``throttle.py``), if so."""
    if store_of(request).people.allow(principal.name):
        return None
    return f"too many sign-ins as {principal.name} in a minute: wait a minute and sign in again"


def from_this_site(request: Request, fields: dict[str, str]) -> bool:
    """The login-CSRF check: the form's hidden value is this browser's cookie's."""
    cookie = request.cookies.get(SIGN_IN_COOKIE, "")
    return bool(cookie) and hmac.compare_digest(fields.get("sign_in", "").encode(), cookie.encode())


def sign_in_pages(templates: Jinja2Templates) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get(SIGN_IN_PAGE)
    def sign_in_page(request: Request, next: Next = "", ended: Ended = "") -> Response:
        """The form; for a live session, who is signed in, their pages and the sign-out button."""
        if current(request) is None:
            return render_sign_in(templates, request, next_page=next, ended=ENDED.get(ended))
        try:
            who = session_visitor(request)
        except Unauthenticated as exc:
            return render_sign_in(templates, request, next_page=next, status=401, reason=exc.message)
        session = current(request)
        shown = {"who": who, "csrf": session.csrf if session else "", "desks": desks_of(who)}
        return templates.TemplateResponse(request, "sign_in.html", shown, headers=PRIVATE)

    @router.post(SIGN_IN_PAGE)
    def sign_in(request: Request, fields: SignInFields, platform: PlatformDep) -> Response:
        next_page, kept = safe_next(fields.get("next")), kept_form(fields)

        def again(status: int, error: str) -> Response:
            return render_sign_in(
                templates, request, next_page=next_page, status=status, kept=kept, error=error
            )

        if not from_this_site(request, fields):
            return again(403, "this sign-in form is not from this site's page: sign in from the page again")
        if not store_of(request).clients.allow(client_key(request)):
            return again(429, TOO_MANY)
        secret = fields.get("token", "").strip()
        if not secret:
            return again(400, "paste your API token (pnyx token create mints one)")
        try:
            principal = platform.identity.authenticate(secret)
        except Unauthenticated as exc:
            return again(401, exc.message)
        if (wait := too_often(request, principal)) is not None:
            return again(429, wait)
        check = lambda: platform.identity.authenticate(secret)  # noqa: E731
        return signed_in(request, open_session(request, principal, check, next_page, kept), next_page)

    @router.post(SIGN_OUT)
    def sign_out(request: Request, _form: FormFields) -> Response:
        """Ends the session (its CSRF token checked first, ``deps.check_csrf``) and its cookie; a
        request with an Authorization header (a token kept in the tab) leaves the cookie's alone."""
        response = RedirectResponse(f"{SIGN_IN_PAGE}?ended=signed-out", status_code=303, headers=PRIVATE)
        if "authorization" in request.headers:
            return response
        session = current(request)
        if session is not None:
            store_of(request).close(session.id)
        clear_cookie(response, request)
        return response

    return router
