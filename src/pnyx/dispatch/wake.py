"""Waking the idle dispatch loop when jobs come to wait for it, instead of at its next interval.

Between cycles the loop waits (``report.cycle_until``). ``Arrivals.wait`` ends that wait early, but
never sooner than the busy pace would (``soonest``), once jobs a cycle can place (pending ones,
``JobService.waiting``) arrived. A job held for safety or awaiting its SME's keys waits for a
person, not for a cycle: its submission is no news; its release or its authorisation, which makes it
pending, is. News comes:
- at once where the API server runs in this process (``pnyx serve``): ``JobService.arrivals`` is set
  by each committed submission of a pending job, and cleared when a cycle begins (``begin``);
- else (``pnyx dispatch run`` beside a server in another process, SQLite or PostgreSQL, and for
  jobs made pending by a release or an authorisation) from the database, in two steps:
  1. when the cycle begins, before it reads the jobs, ``begin`` takes the ids of the pending jobs
     (``JobService.waiting_ids``: unordered, on the status index): the cycle sees every one of them.
     When the wait begins, a pending job not among them became pending after the cycle began,
     perhaps after it read the jobs: news. Ids, not a time or a sequence: two submissions that
     commit out of the order of their timestamps (or of their sequence numbers) are both caught. A
     job the cycle saw after all (among them those its own release of held jobs made pending, and
     left unplaced) wakes one cycle more, which begins with it: never a loop. A busy loop's pauses
     never wait here (``report.rest``), so a cycle after such a pause takes no ids, and the first
     wait after a busy stretch is news (one cycle more, which takes them);
  2. then every ``LOOK_EVERY_S``, how many jobs are pending (``JobService.waiting``: one count on
     the status index), against the count when the wait began. A count that moved ends the wait:
     a job came, or a pending one was cancelled (a cycle that finds nothing new to do). One that
     came and one cancelled between the same two looks leave the count as it was: that job waits
     for the interval.
A standby dispatcher (``leading`` says it did not lead its last cycle) reads nothing here and waits
its whole interval: only the leader places jobs. Its first cycle as leader took no ids, so its first
wait is news (one cycle more).
Its cost: while idle, one count query every ``LOOK_EVERY_S`` (5 a second); per quiet cycle, two
reads of the pending jobs' ids (when it begins, when the wait begins); none while busy or standing
by. Measured in benchmarks/README.md (``benchmarks.wake_cost``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from pnyx.jobs.service import JobService

LOOK_EVERY_S = 0.2


def _always() -> bool:
    return True


class Arrivals:
    def __init__(
        self, jobs: JobService, look_every_s: float = LOOK_EVERY_S, leading: Callable[[], bool] = _always
    ) -> None:
        """``leading``: whether the loop led its last cycle (a standby's wake reads nothing)."""
        self.jobs, self.look_every_s, self.leading = jobs, look_every_s, leading
        # the jobs pending when the last cycle began; None: not taken (a busy loop's, a standby's)
        self.began_with: frozenset[str] | None = frozenset()
        self.waited = True  # the last pause waited here: the next one likely will

    def begin(self) -> None:
        """A cycle begins: it sees every submission committed so far, and every job pending now."""
        self.jobs.arrivals.clear()
        taking, self.waited = self.waited and self.leading(), False
        self.began_with = self.jobs.waiting_ids() if taking else None

    def wait(self, stop: threading.Event, seconds: float, soonest: float) -> None:
        """Until ``stop``, ``seconds`` passed, or (after ``soonest``, while leading) jobs arrived."""
        if not self.leading():
            stop.wait(seconds)
            return
        began = time.monotonic()
        news, left = self._since_begin()
        stop.wait(min(seconds, soonest))
        while not news and not stop.is_set() and (rest := seconds - (time.monotonic() - began)) > 0:
            news = self.jobs.arrivals.wait(min(rest, self.look_every_s)) or self.jobs.waiting() != left

    def _since_begin(self) -> tuple[bool, int]:
        """Whether a job pending now came after the cycle began (or no ids were taken then: maybe),
        and how many are pending."""
        self.waited = True
        if self.began_with is None:
            return True, 0
        left = self.jobs.waiting_ids()
        return not left <= self.began_with, len(left)
