"""Waking the idle dispatch loop when jobs are submitted, instead of at its next interval.

Between cycles the loop waits (``report.cycle_until``). ``Arrivals.wait`` ends that wait early, but
never sooner than the busy pace would (``soonest``), once jobs arrived:
- at once where the API server runs in this process (``pnyx serve``): ``JobService.arrivals`` is set
  by each committed submission, and cleared when a cycle begins (``begin``), so a job submitted
  while a cycle runs wakes the next wait;
- else (``pnyx dispatch run`` beside a server in another process, SQLite or PostgreSQL) by looking
  every ``LOOK_EVERY_S`` at how many jobs wait to be placed (``JobService.waiting``: one count on the
  status index), against the count the last cycle left. A count that moved ends the wait:
  a submission, or a waiting job cancelled (a cycle that finds nothing new to do). A job submitted
  in another process while a cycle runs, after the cycle read the jobs, is already in the count the
  cycle leaves: it waits for the interval, as before.
Its cost while idle: one count query every ``LOOK_EVERY_S`` (5 a second), measured in
benchmarks/README.md.
"""

from __future__ import annotations

import threading
import time

from pnyx.jobs.service import JobService

LOOK_EVERY_S = 0.2


class Arrivals:
    def __init__(self, jobs: JobService, look_every_s: float = LOOK_EVERY_S) -> None:
        self.jobs, self.look_every_s = jobs, look_every_s

    def begin(self) -> None:
        """A cycle begins: it sees every submission committed so far."""
        self.jobs.arrivals.clear()

    def wait(self, stop: threading.Event, seconds: float, soonest: float) -> None:
        """Until ``stop``, ``seconds`` passed, or (after ``soonest``) jobs arrived."""
        began, left_waiting = time.monotonic(), self.jobs.waiting()  # what the cycle left: no news
        stop.wait(min(seconds, soonest))
        while not stop.is_set() and (left := seconds - (time.monotonic() - began)) > 0:
            if self.jobs.arrivals.wait(min(left, self.look_every_s)) or self.jobs.waiting() != left_waiting:
                return
