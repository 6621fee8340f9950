"""Request-scoped access to the composition root, the visitor's identity and a form's fields."""

from __future__ import annotations

import hmac
from typing import Annotated
from urllib.parse import parse_qsl

from fastapi import Depends, HTTPException, Path, Request

from pnyx.core.errors import ErrorKind, Unauthenticated
from pnyx.identity.model import Principal
from pnyx.portal.sessions import current, session_visitor
from pnyx.wiring import Platform

MAX_FIELDS = 20
MAX_FIELD_CHARS = 2000
# How a refusal reads in a browser: the same statuses the API answers with.
STATUS = {
    ErrorKind.INVALID: 400,
    ErrorKind.UNAUTHENTICATED: 401,
    ErrorKind.FORBIDDEN: 403,
    ErrorKind.NOT_FOUND: 404,
    ErrorKind.CONFLICT: 409,
    ErrorKind.UNAVAILABLE: 503,
    ErrorKind.INTEGRITY: 500,
}


def get_platform(request: Request) -> Platform:
    platform: Platform = request.app.state.platform
    return platform


PlatformDep = Annotated[Platform, Depends(get_platform)]

# An id in a page's path, as both databases can look it up: no NUL character (PostgreSQL refuses it),
# at most 200 characters. Anything else is no such page (404), before a service runs.
PathRef = Annotated[str, Path(max_length=200, pattern=r"^[^\x00]*$")]


def visitor(request: Request, platform: Platform) -> Principal:
    """Who asks: the bearer token a page's script sends from this tab's sessionStorage, else the
    portal session the cookie names (``sessions.py``; its forms carry a CSRF token, ``check_csrf``);
    the public with neither."""
    header = request.headers.get("authorization")
    if header is None:
        return session_visitor(request)
    scheme, _, secret = header.partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise Unauthenticated("the Authorization header must be 'Bearer <token>'", field="Authorization")
    return platform.identity.authenticate(secret.strip())


async def form_fields(request: Request) -> dict[str, str]:
    """The fields of a form the portal's pages post (application/x-www-form-urlencoded); a body
    that is not one, too many fields, a field too long or holding NUL is a 400 page."""
    return await read_form(request, MAX_FIELDS)


async def read_form(request: Request, max_fields: int) -> dict[str, str]:
    """``form_fields`` with room for ``max_fields`` fields (the sign-in form keeps another form's)."""
    try:
        text = (await request.body()).decode()
        pairs = parse_qsl(text, max_num_fields=max_fields, errors="strict")
    except (UnicodeDecodeError, ValueError):
        raise HTTPException(400, "the form is not readable") from None
    if any(len(v) > MAX_FIELD_CHARS or "\x00" in v for _k, v in pairs):
        raise HTTPException(400, f"a form field holds at most {MAX_FIELD_CHARS} characters and no NUL")
    return dict(pairs)


FormFields = Annotated[dict[str, str], Depends(form_fields)]
CSRF_REFUSED = (
    "this form is not from your session (its CSRF token does not match): reload the page and post it again"
)


async def check_csrf(request: Request) -> None:
    """Every portal form a browser posts with its session cookie carries the session's CSRF token
    (the hidden field ``csrf``); one without it is refused (403) before anything runs. A request with
    a bearer header needs none: another site cannot make a browser send one."""
    if request.method != "POST" or "authorization" in request.headers:
        return
    session = current(request)
    if session is None:
        return  # the public, or a session that ended: the page answers with the reason
    fields = await form_fields(request)
    if not hmac.compare_digest(fields.get("csrf", "").encode(), session.csrf.encode()):
        raise HTTPException(403, CSRF_REFUSED)
