"""Security headers on every response, and redirects that never echo the request's Host header.

A pure ASGI middleware. It adds the headers a response does not already set, so a page with needs of
its own (the API docs) sends its own Content-Security-Policy. The default policy allows scripts and
styles from this origin only: no inline script, no inline style, no framing.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Mapping

from starlette.datastructures import URL, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

BASE_POLICY = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data:",
    "font-src": "'self'",
    "connect-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'none'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}
HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}
PRIVATE_PREFIX = "/api/v1/"  # API answers may carry secrets (a new token) or private data: never cached
INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)


def content_security_policy(**overrides: str) -> str:
    """The base policy with some directives replaced (``script_src=...`` for ``script-src``)."""
    policy = {**BASE_POLICY, **{k.replace("_", "-"): v for k, v in overrides.items()}}
    return "; ".join(f"{name} {value}" for name, value in policy.items())


def inline_hashes(html: str) -> str:
    """CSP source expressions admitting exactly the inline scripts of a page we generated ourselves."""
    return " ".join(
        f"'sha256-{base64.b64encode(hashlib.sha256(m.encode()).digest()).decode()}'"
        for m in INLINE_SCRIPT.findall(html)
    )


DEFAULT_CSP = content_security_policy()
DEFAULT_HEADERS = {**HEADERS, "Content-Security-Policy": DEFAULT_CSP}


class SecurityHeaders:
    def __init__(self, app: ASGIApp, headers: Mapping[str, str] | None = None) -> None:
        self.app = app
        self.headers = {**DEFAULT_HEADERS, **(headers or {})}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_secured(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in self.headers.items():
                    headers.setdefault(name, value)
                if str(scope.get("path", "")).startswith(PRIVATE_PREFIX):
                    headers.setdefault("Cache-Control", "no-store")  # tokens, private records
                if "location" in headers:
                    headers["location"] = relative(headers["location"], scope)
            await send(message)

        await self.app(scope, receive, send_secured)


def relative(location: str, scope: Scope) -> str:
    """A redirect to this server as a path: the Host header a client sent never comes back to it."""
    target = URL(location)
    if not target.netloc or target.netloc != URL(scope=scope).netloc:
        return location
    path = "/" + target.path.lstrip("/\\")  # never "//host": a browser reads that as another site
    return f"{path}?{target.query}" if target.query else path
