"""Request bodies are bounded before anything parses them (413 problem+json past the limit).

A pure ASGI middleware: a declared ``Content-Length`` over the limit is refused before a byte is read;
a body without one (chunked) is counted as it streams and refused when the count passes the limit.
"""

from __future__ import annotations

import re

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pnyx.api.problems import problem

DEFAULT_MAX_BODY_BYTES = 1024 * 1024


class BodyTooLarge(HTTPException):
    """An HTTPException, so that a route reading the body answers 413 through the usual handler."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body is larger than {limit} bytes")


class BodyLimit:
    """``exempt``: paths whose routes bound their own (larger) bodies, streamed, not parsed."""

    def __init__(
        self, app: ASGIApp, max_bytes: int = DEFAULT_MAX_BODY_BYTES, exempt: re.Pattern[str] | None = None
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.exempt = exempt

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or (self.exempt is not None and self.exempt.fullmatch(scope["path"])):
            await self.app(scope, receive, send)
            return
        if declared_length(scope) > self.max_bytes:
            await refuse(self.max_bytes, scope, receive, send)
            return
        started = False

        async def send_tracking(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting(receive, self.max_bytes), send_tracking)
        except BodyTooLarge:
            if started:
                raise
            await refuse(self.max_bytes, scope, receive, send)


def declared_length(scope: Scope) -> int:
    """The Content-Length header's value; 0 when absent (a malformed one never reaches us: h11 refuses it)."""
    for name, value in scope["headers"]:
        if name == b"content-length" and value.isdigit():
            return int(value)
    return 0


def counting(receive: Receive, limit: int) -> Receive:
    """``receive``, raising ``BodyTooLarge`` once the body read so far passes ``limit`` bytes."""
    seen = 0

    async def receive_counted() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise BodyTooLarge(limit)
        return message

    return receive_counted


async def refuse(limit: int, scope: Scope, receive: Receive, send: Send) -> None:
    detail = f"the request body is larger than {limit} bytes"
    response = problem(413, "request body too large", detail, "body_too_large", limit=limit)
    response.headers["Connection"] = "close"  # the rest of the body is never read
    await response(scope, receive, send)
