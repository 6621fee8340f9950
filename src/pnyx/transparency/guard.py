"""The guard on every answer a monitor reads from a log server it does not trust (standard library
only: ``pnyx log verify`` over httpx and the standalone auditor over urllib share it).

Each request has one deadline in all, headers and body, not one per read: ``within`` runs it in a
thread of its own and stops waiting when the time is up, even while a server trickles its headers one
byte at a time. Each body is read against the cap for its kind of path (``limits.max_bytes``), refused
on a declared length above it before a byte is read, and refused when compressed (a cap on the wire
must be a cap in memory). Redirects are not followed by either client: a 3xx is an answer like a 404.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar

from pnyx.core.errors import Unavailable
from pnyx.transparency import limits

IDENTITY = {"Accept-Encoding": "identity"}  # the request header: no compressed bodies
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class _Done(Generic[T]):
    value: T


def within(timeout_s: float, work: Callable[[], T], late: Callable[[], Exception]) -> T:
    """``work()``, run in a daemon thread, if it ends within ``timeout_s``; else ``late()`` is raised
    (the thread is left to its own socket timeouts). What ``work`` raises is raised here."""
    answers: queue.Queue[_Done[T] | Exception] = queue.Queue(maxsize=1)
    threading.Thread(target=_answer, args=(work, answers), daemon=True).start()
    try:
        answer = answers.get(timeout=timeout_s)
    except queue.Empty:
        raise late() from None
    if isinstance(answer, Exception):
        raise answer
    return answer.value


def _answer(work: Callable[[], T], answers: queue.Queue[_Done[T] | Exception]) -> None:
    try:
        answers.put(_Done(work()))
    except Exception as exc:  # raised again in the caller's thread by within
        answers.put(exc)


@dataclass(frozen=True, slots=True, kw_only=True)
class Guard:
    """The bounds on one GET of ``path`` (relative to the log's prefix) at ``url``."""

    url: str
    path: str
    timeout_s: float

    def accept(self, encoding: str | None, declared: str | None) -> None:
        """Refuse the answer on its headers: a compressed body, or a declared length over the cap."""
        if (encoding or "identity") != "identity":
            raise Unavailable(
                f"GET {self.url} answered with Content-Encoding {encoding!r}; the monitor reads "
                "identity bodies only",
                code="monitor_fetch",
            )
        if declared is not None and declared.isdigit() and int(declared) > limits.max_bytes(self.path):
            raise self.too_large()

    def body(self, chunks: Iterable[bytes], deadline: float) -> bytes:
        """The body from ``chunks``, read no further than the cap plus one byte and the deadline."""
        body, cap = bytearray(), limits.max_bytes(self.path)
        for chunk in chunks:
            body += chunk
            if len(body) > cap:
                raise self.too_large()
            if time.monotonic() > deadline:
                raise self.late()
        return bytes(body)

    def too_large(self) -> Unavailable:
        return Unavailable(
            f"GET {self.url}: the body exceeds {limits.max_bytes(self.path):,} bytes, the most "
            f"{limits.kind(self.path)} may hold",
            code="monitor_too_large",
        )

    def late(self) -> Unavailable:
        return Unavailable(
            f"GET {self.url}: no complete answer within {self.timeout_s:g} s (--timeout-s)",
            code="monitor_timeout",
        )
