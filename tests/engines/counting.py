"""An HTTP transport for engine tests: the real one, recording each request."""

from __future__ import annotations

import httpx


class CountingTransport(httpx.BaseTransport):
    """The real HTTP transport, recording each request's method and path."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.calls: list[tuple[str, str]] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.calls.append((request.method, request.url.path))
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()

    def count(self, method: str, suffix: str) -> int:
        return sum(1 for m, path in self.calls if m == method and path.endswith(suffix))

    def accounting(self) -> int:
        return sum(1 for _m, path in self.calls if path.startswith("/slurmdb/"))
