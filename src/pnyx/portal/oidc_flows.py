"""The OpenID Connect sign-ins under way (``oidc.py``; docs/adr/0011-portal-sessions.md).

A flow starts in a browser and is kept here, in this process's memory, by its ``state``: the random
value binding it to that browser (its ``pnyx_oidc`` cookie holds the same), the provider's secret for
it (a PKCE verifier, a nonce: ``SignInProvider.authorization_url``), where the person goes afterwards
and the session they had when they started (ended when the new one opens). The callback takes a flow
once: a replayed or forged ``state`` finds nothing. At most ``limit`` flows wait, for ``lifetime``
each; beyond it the oldest are dropped.
"""

from __future__ import annotations

import hmac
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from pnyx.core.clock import Clock

FLOW_LIFETIME = timedelta(minutes=10)
MAX_FLOWS = 10_000


@dataclass(frozen=True, slots=True, kw_only=True)
class Flow:
    browser: str  # the value of the browser's flow cookie
    secret: str  # the provider's, handed back to it with the code
    next_page: str
    replaces: str | None  # the session id the browser had at the start
    expires_at: datetime


@dataclass(slots=True)
class FlowStore:
    """The flows under way, by state."""

    clock: Clock
    lifetime: timedelta = FLOW_LIFETIME
    limit: int = MAX_FLOWS
    _flows: dict[str, Flow] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self, state: str, *, browser: str, secret: str, next_page: str, replaces: str | None) -> None:
        now = self.clock.now()
        flow = Flow(
            browser=browser,
            secret=secret,
            next_page=next_page,
            replaces=replaces,
            expires_at=now + self.lifetime,
        )
        with self._lock:
            self._drop_ended(now)
            while len(self._flows) >= self.limit:
                del self._flows[next(iter(self._flows))]
            self._flows[state] = flow

    def take(self, state: str, browser: str) -> Flow | None:
        """The flow ``state`` names, once, if this browser started it and it has not ended."""
        with self._lock:
            flow = self._flows.get(state)
            if flow is None or not hmac.compare_digest(flow.browser.encode(), browser.encode()):
                return None  # another browser's flow stays for its own
            del self._flows[state]
        return flow if self.clock.now() < flow.expires_at else None

    def _drop_ended(self, now: datetime) -> None:
        """Flows end in the order they start: drop them from the oldest while ended."""
        while self._flows and next(iter(self._flows.values())).expires_at <= now:
            del self._flows[next(iter(self._flows))]
