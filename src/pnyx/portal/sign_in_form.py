"""The sign-in form, wherever it is shown: the sign-in page, a desk's shell for the public, and the
page a form posted with an ended session answers with (the reason, and what was typed kept in hidden
fields until the person signs in again).

The form is protected against login CSRF (another site signing a visitor in as someone else) by a
double-submitted value: a random ``pnyx_sign_in`` cookie (SameSite=Strict, HttpOnly) and the same
value in the form's hidden ``sign_in`` field; a sibling host of the site can plant that cookie, so the
post must also come from this origin (``deps.check_csrf``). Where the person goes afterwards
(``next``) is a path of this portal, never another site (``safe_next``).
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from urllib.parse import unquote, urlsplit

from fastapi import Request
from fastapi.templating import Jinja2Templates
from starlette.responses import Response

from pnyx.portal.sessions import PATH, clear_cookie

SIGN_IN_COOKIE = "pnyx_sign_in"
SIGN_IN_PAGE = "/portal/sign-in"
KEPT = "kept."  # the prefix of a kept field's name in the form
Kept = tuple[str, Mapping[str, str]]  # a form refused for the session: its name and what was typed


def safe_next(raw: str | None) -> str:
    """``raw`` when it is a path of the portal (``/portal/...``, with its query, no ``.`` or ``..``
    segment, even percent-encoded, that a browser would resolve out of it); else the sign-in page."""
    text = (raw or "").strip()
    parts = urlsplit(text)
    same_site = not parts.scheme and not parts.netloc and text.startswith(PATH + "/")
    dotted = any(s in {".", ".."} for s in unquote(parts.path).split("/"))
    if not same_site or dotted or "\\" in text or any(ord(c) < 0x20 for c in text):
        return SIGN_IN_PAGE
    return text


def sign_in_value(request: Request) -> str:
    """The login-CSRF value of this browser: its cookie's, or a new one."""
    return request.cookies.get(SIGN_IN_COOKIE) or secrets.token_urlsafe(24)


def provider_name(request: Request) -> str | None:
    """The OpenID Connect issuer the portal offers, if one is configured (``oidc.py``)."""
    provider = getattr(request.app.state, "sign_in_provider", None)
    return None if provider is None else str(provider.issuer)


def sign_in_context(
    request: Request,
    *,
    next_page: str,
    reason: str | None = None,
    kept: Kept | None = None,
    error: str | None = None,
) -> dict[str, object]:
    return {
        "next_page": safe_next(next_page),
        "sign_in": sign_in_value(request),
        "reason": reason,
        "kept_form": kept[0] if kept else "",
        "kept": {KEPT + k: v for k, v in kept[1].items()} if kept else {},
        "token_error": error,
        "provider": provider_name(request),
    }


def remember_sign_in(response: Response, request: Request, value: str) -> None:
    """Set the login-CSRF cookie the shown form's hidden field matches."""
    if request.cookies.get(SIGN_IN_COOKIE) != value:
        response.set_cookie(
            SIGN_IN_COOKIE,
            value,
            path=PATH,
            secure=request.url.scheme == "https",
            httponly=True,
            samesite="strict",
        )


def render_sign_in(
    templates: Jinja2Templates,
    request: Request,
    *,
    next_page: str,
    status: int = 200,
    reason: str | None = None,
    kept: Kept | None = None,
    error: str | None = None,
    ended: str | None = None,
) -> Response:
    """The sign-in page; with a ``reason`` (a session that ended) its cookie is cleared too."""
    context = sign_in_context(request, next_page=next_page, reason=reason, kept=kept, error=error)
    context["ended"] = ended
    response = templates.TemplateResponse(
        request, "sign_in.html", context, status_code=status, headers={"Cache-Control": "no-store"}
    )
    remember_sign_in(response, request, str(context["sign_in"]))
    if reason:
        clear_cookie(response, request)
    return response
