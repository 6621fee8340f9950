"""What one dispatch cycle did (``CycleReport``), how long to wait before the next (``pause_after``,
``cycle_until``), and what a cycle counts per job for ``faults`` (``Tally``)."""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

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
BUSY_SHARE = 0.8  # while jobs move, the dispatcher works at most this share of the time


def pause_after(
    report: CycleReport, interval_s: float, busy_interval_s: float = BUSY_INTERVAL_S, *, quiet_s: float
) -> float:
    """The wait before the next cycle. While jobs move (they did within ``BUSY_WINDOW_S``: ``quiet_s``
    is the time since), the busy pace (``busy_pause``); else ``interval_s``. After a cycle with
    errors, ``interval_s``, so transient failures are counted at the usual pace
    (``faults.TRANSIENT_LIMIT`` cycles). A cluster whose jobs all run long, however many wait, is
    polled every ``interval_s`` (sooner when jobs arrive: ``Wake``)."""
    if quiet_s < BUSY_WINDOW_S and not report.errors:
        return min(interval_s, busy_pause(report, busy_interval_s))
    return interval_s


def busy_pause(report: CycleReport, busy_interval_s: float) -> float:
    """``busy_interval_s``, longer only after a cycle so long that the dispatcher would work more than
    ``BUSY_SHARE`` of the time (the server's requests share its process)."""
    return max(busy_interval_s, report.seconds * (1 - BUSY_SHARE) / BUSY_SHARE)


def next_pause(
    report: CycleReport, moved_at: float, now: float, interval_s: float, busy_interval_s: float
) -> tuple[float, float]:
    """The pause after ``report`` (``pause_after``), and when jobs last moved (monotonic)."""
    moved_at = now if report.moved else moved_at
    return pause_after(report, interval_s, busy_interval_s, quiet_s=now - moved_at), moved_at


class Wake(Protocol):
    """Ends a pause early when there is news (``dispatch.wake.Arrivals``: jobs submitted)."""

    def begin(self) -> None:
        """A cycle begins: what it will see is no news."""
        ...

    def wait(self, stop: threading.Event, seconds: float, soonest: float) -> None:
        """Until ``stop``, ``seconds`` passed, or (after ``soonest``) news came."""
        ...


def cycle_until(
    stop: threading.Event,
    cycle: Callable[[], CycleReport],
    interval_s: float,
    busy_interval_s: float,
    wake: Wake | None = None,
    settle: Callable[[], object] | None = None,
) -> None:
    """Run ``cycle`` until ``stop``: every ``interval_s``, sooner while jobs move or (``wake``) when
    jobs arrive, never sooner than the busy pace, nor after a cycle with errors; errors never end it.
    ``settle`` runs after each cycle, before the pause (``heap.Heap.settle``)."""
    moved_at, paces = -math.inf, (interval_s, busy_interval_s)
    while not stop.is_set():
        pause, soonest = interval_s, interval_s
        try:
            if wake is not None:
                wake.begin()
            report = cycle()
            pause, moved_at = next_pause(report, moved_at, time.monotonic(), *paces)
            soonest = pause if report.errors else min(pause, busy_pause(report, busy_interval_s))
            if report.errors:
                log.warning("dispatch cycle: %s", "; ".join(report.errors))
            if settle is not None:
                settle()
        except Exception:
            log.exception("dispatch cycle failed; retrying")
        rest(stop, pause, soonest, wake)


def rest(stop: threading.Event, pause: float, soonest: float, wake: Wake | None) -> None:
    """The pause between cycles, cut short by ``wake`` (after ``soonest``) where one is given."""
    if wake is None or soonest >= pause:
        stop.wait(pause)
        return
    try:
        wake.wait(stop, pause, soonest)
    except Exception:  # the next cycle reads the same database: its report says what is wrong
        log.warning("dispatch: looking for new jobs failed; the next cycle now", exc_info=True)


@dataclass(slots=True)
class Tally:
    """One cycle's engine answers and per-job failures, for ``faults.next_strikes``."""

    answered: set[str] = field(default_factory=set)  # engines that answered some call
    # idempotency key -> (job, the engine whose transient error it was or None, the error)
    failed: dict[str, tuple[JobRecord, str | None, str]] = field(default_factory=dict)
