"""How often the portal lets one client, or one person, sign in (docs/adr/0011-portal-sessions.md).

Each key (``client:<address>``, ``user:<name>``) may make ``limit`` attempts in any ``window``; the
attempts are kept in this process's memory, for at most ``max_keys`` keys (the least recently seen
dropped first), so a flood of addresses cannot grow it without bound.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from pnyx.core.clock import Clock

WINDOW = timedelta(minutes=1)
MAX_KEYS = 10_000


def recent(stamps: tuple[datetime, ...], now: datetime, window: timedelta) -> tuple[datetime, ...]:
    """The attempts within ``window`` before ``now``."""
    return tuple(s for s in stamps if now - s < window)


@dataclass(slots=True)
class Throttle:
    """At most ``limit`` attempts per key in any ``window``."""

    clock: Clock
    limit: int
    window: timedelta = WINDOW
    max_keys: int = MAX_KEYS
    _attempts: dict[str, tuple[datetime, ...]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def allow(self, key: str) -> bool:
        """Count an attempt for ``key``; False (and not counted) once it made ``limit`` in the window."""
        now = self.clock.now()
        with self._lock:
            stamps = recent(self._attempts.pop(key, ()), now, self.window)
            allowed = len(stamps) < self.limit
            self._attempts[key] = (*stamps, now) if allowed else stamps
            self._forget(now)
        return allowed

    def _forget(self, now: datetime) -> None:
        """Drop the least recently seen keys: those idle for a window, then any beyond ``max_keys``."""
        while self._attempts:
            oldest, stamps = next(iter(self._attempts.items()))
            if len(self._attempts) <= self.max_keys and stamps and now - stamps[-1] < self.window:
                return
            del self._attempts[oldest]
