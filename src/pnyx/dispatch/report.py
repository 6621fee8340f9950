"""What one dispatch cycle did (``CycleReport``), how long to wait before the next (``pause_after``,
``cycle_until``), and what a cycle counts per job for ``faults`` (``Tally``)."""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from pnyx.jobs.model import JobRecord

log = logging.getLogger("pnyx.dispatch")


@dataclass(slots=True)
class CycleReport:
    leader: bool
    started: int = 0
    submitted: int = 0
    running: int = 0  # jobs whose engine started them (QUEUED -> RUNNING)
    queued: int = 0  # jobs still waiting in their engine's queue
    waiting: int = 0  # pending jobs left waiting for room (or for a later cycle)
    finished: int = 0
    preempted: int = 0
    rejected: int = 0
    requeued: int = 0
    released: int = 0  # held for safety until this cycle: their project's level is now confirmed
    considered: int = 0
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def moved(self) -> bool:
        """Some job changed state: submitted, started, ended, preempted or requeued."""
        moves = (self.started, self.submitted, self.running, self.finished, self.preempted, self.requeued)
        return any(moves) or self.released > 0


BUSY_INTERVAL_S = 0.25  # between cycles while jobs move: completions are seen, and their room reused, fast
BUSY_WINDOW_S = 10.0  # jobs moved this recently: the loop keeps the busy pace


def pause_after(
    report: CycleReport, interval_s: float, busy_interval_s: float = BUSY_INTERVAL_S, *, quiet_s: float
) -> float:
    """The wait before the next cycle. While jobs move (they did within ``BUSY_WINDOW_S``: ``quiet_s``
    is the time since), ``busy_interval_s``, but never less than the cycle took (the dispatcher
    cycles at most half the time); else ``interval_s``. After a cycle with errors, ``interval_s``,
    so transient failures are counted at the usual pace (``faults.TRANSIENT_LIMIT`` cycles). A
    cluster whose jobs all run long, however many wait, is polled every ``interval_s``."""
    if quiet_s < BUSY_WINDOW_S and not report.errors:
        return min(interval_s, max(busy_interval_s, report.seconds))
    return interval_s


def next_pause(
    report: CycleReport, moved_at: float, now: float, interval_s: float, busy_interval_s: float
) -> tuple[float, float]:
    """The pause after ``report`` (``pause_after``), and when jobs last moved (monotonic)."""
    moved_at = now if report.moved else moved_at
    return pause_after(report, interval_s, busy_interval_s, quiet_s=now - moved_at), moved_at


def cycle_until(
    stop: threading.Event, cycle: Callable[[], CycleReport], interval_s: float, busy_interval_s: float
) -> None:
    """Run ``cycle`` until ``stop``: every ``interval_s``, sooner while jobs move; errors never end it."""
    moved_at, paces = -math.inf, (interval_s, busy_interval_s)
    while not stop.is_set():
        pause = interval_s
        try:
            report = cycle()
            pause, moved_at = next_pause(report, moved_at, time.monotonic(), *paces)
            if report.errors:
                log.warning("dispatch cycle: %s", "; ".join(report.errors))
        except Exception:
            log.exception("dispatch cycle failed; retrying")
        stop.wait(pause)


@dataclass(slots=True)
class Tally:
    """One cycle's engine answers and per-job failures, for ``faults.next_strikes``."""

    answered: set[str] = field(default_factory=set)  # engines that answered some call
    # idempotency key -> (job, the engine whose transient error it was or None, the error)
    failed: dict[str, tuple[JobRecord, str | None, str]] = field(default_factory=dict)
