"""Request-scoped access to the composition root, the visitor's identity and a form's fields."""

from __future__ import annotations

import hmac
from typing import Annotated
from urllib.parse import parse_qsl, urlsplit

from fastapi import Depends, HTTPException, Path, Request

from pnyx.core.errors import ErrorKind, Unauthenticated
from pnyx.identity.model import Principal
from pnyx.portal.sessions import current, session_visitor
from pnyx.wiring import Platform

MAX_FIELDS = 20
MAX_FIELD_CHARS = 2000
MAX_NAME_CHARS = 100  # the longest field name a portal form has is far shorter
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
    if "authorization" not in request.headers:
        return session_visitor(request)
    secret = bearer_secret(request)
    if secret is None:
        raise Unauthenticated("the Authorization header must be 'Bearer <token>'", field="Authorization")
    return platform.identity.authenticate(secret)


def bearer_secret(request: Request) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header; None for none, or any other."""
    scheme, _, secret = request.headers.get("authorization", "").partition(" ")
    return secret.strip() if scheme.lower() == "bearer" and secret.strip() else None


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
    if any(len(k) > MAX_NAME_CHARS for k, _v in pairs):
        raise HTTPException(400, f"a form field's name holds at most {MAX_NAME_CHARS} characters")
    return dict(pairs)


FormFields = Annotated[dict[str, str], Depends(form_fields)]
CSRF_REFUSED = (
    "this form is not from your session (its CSRF token does not match): reload the page and post it again"
)
CROSS_SITE_REFUSED = (
    "this form was posted from another site, not from this portal's page: open the page and post it there"
)
FROM_HERE = frozenset(
    {"same-origin", "none"}
)  # Sec-Fetch-Site of this portal's page, or the person's own act


def from_elsewhere(request: Request) -> bool:
    """Whether the browser says the post came from another origin (another site, or a sibling host of
    this one): its ``Sec-Fetch-Site``, else its ``Origin`` against the ``Host`` it asked. A browser that
    sends neither is judged by the form's CSRF token (or sign-in value) alone."""
    fetched = request.headers.get("sec-fetch-site")
    if fetched is not None:
        return fetched.lower() not in FROM_HERE
    origin = request.headers.get("origin")
    return origin is not None and urlsplit(origin).netloc.lower() != request.headers.get("host", "").lower()


async def check_csrf(request: Request) -> None:
    """Every portal form a browser posts comes from this portal's own pages: one from another origin
    is refused (403) before anything runs, and one posted with a session cookie carries the session's
    CSRF token (the hidden field ``csrf``, compared in constant time). A request with a bearer token
    needs neither: another site cannot make a browser send one."""
    if request.method != "POST" or bearer_secret(request) is not None:
        return
    if from_elsewhere(request):
        raise HTTPException(403, CROSS_SITE_REFUSED)
    session = current(request)
    if session is None:
        return  # the public, or a session that ended: the page answers with the reason
    fields = await form_fields(request)
    if not hmac.compare_digest(fields.get("csrf", "").encode(), session.csrf.encode()):
        raise HTTPException(403, CSRF_REFUSED)
