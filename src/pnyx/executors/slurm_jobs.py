"""Pnyx's jobs on a Slurm cluster, read as seldom as the engine allows.

- One listing of the controller's jobs per dispatch cycle (``begin_cycle``), or, used outside a
  dispatcher, at most one per ``ttl_s``; kept to Pnyx's jobs by their name prefix (``pnyx-<key>``).
  A listing asks "what changed since the last one" (``update_time``): when nothing did, slurmctld
  answers at once with no body (15 ms against 110 ms for 1.3 MB of 340 jobs), so a dispatcher may
  poll often. 22.05 does not say its own time: the last listing's start on this machine's clock,
  less ``CLOCK_MARGIN_S``, is sent, and a full listing is taken at least every ``FULL_LISTING_S``
  (so clocks further apart than the margin delay news by that much at most).
- A few jobs are read one by one where that costs less than a listing, as measured here
  (``ReadCosts``: what one job read alone and one record of a listing took, moving averages).
- The jobs this executor submitted are remembered (the last ``SENT_MEMORY``): a job submitted after the
  listing was taken is known without asking again, and is queued as far as anyone can tell.
- Accounting (slurmdbd) only for what the controller no longer holds (it purges ended jobs after
  ``MinJobAge``), in batches of ``BATCH``: by name to find keys, by job id to read states.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from pnyx.executors.slurm_api import (
    EMPTY_RESULT,
    INVALID_JOB_ID,
    SlurmCall,
    SlurmDialect,
    SlurmJob,
    batches,
    jobs_by_id,
    jobs_by_name,
    parse_errors,
)
from pnyx.executors.slurm_rest import SlurmRest, describe
from pnyx.jobs.model import EngineUnavailable

NAME_PREFIX = "pnyx-"
SENT_MEMORY = 100_000  # submissions remembered per executor (the oldest are forgotten first)
CLOCK_MARGIN_S = 2  # how far this machine's clock may run ahead of the controller's
SINGLE_READ_ROWS = 15  # until measured: one job read alone costs about 15 records of a listing (22.05)
EXPLORE_FACTOR = 4  # a listing never timed is taken once it may cost at most this many times the singles
COST_SMOOTHING = 0.2  # weight of the newest read in ``ReadCosts``' moving averages
FULL_LISTING_S = 30.0  # a full listing at least this often, whatever "unchanged" says


def job_name(idempotency_key: str) -> str:
    return f"{NAME_PREFIX}{idempotency_key}"


@dataclass(frozen=True, slots=True)
class Listing:
    """Pnyx's jobs in the controller, as one listing found them."""

    taken_at: float  # monotonic, just before the request: a job submitted earlier is in it
    jobs: Mapping[int, SlurmJob]  # by job id
    ids: Mapping[str, int]  # job name -> its lowest job id
    update_time: int  # what the next listing sends: changes since then are in this one
    full_at: float  # monotonic: when the jobs were last downloaded in full
    table_size: int  # every job the controller held then, Pnyx's or not: what a listing costs


def listing_of(
    raws: Sequence[Mapping[str, Any]], dialect: SlurmDialect, *, taken_at: float, update_time: int
) -> Listing:
    mine = [dialect.parse_job(raw) for raw in raws if str(raw.get("name") or "").startswith(NAME_PREFIX)]
    own = sorted(mine, key=lambda j: -j.job_id)
    return Listing(
        taken_at=taken_at,
        jobs={j.job_id: j for j in own},
        ids={j.name: j.job_id for j in own},
        update_time=update_time,
        full_at=taken_at,
        table_size=len(raws),
    )


@dataclass(frozen=True, slots=True)
class Seen:
    """What the engine says about some job ids: their records, and those only just submitted."""

    records: Mapping[int, SlurmJob]
    just_sent: frozenset[int]  # submitted here since the engine was last read: it has them, unread


@dataclass(slots=True)
class ReadCosts:
    """What reading the controller has cost here, in seconds (moving averages): one job read alone,
    and one record of a full listing. A loaded slurmrestd answers single reads far slower than the
    fixed ratio ``SINGLE_READ_ROWS`` says (100 records' worth under load on 23.02)."""

    single_s: float | None = None
    row_s: float | None = None

    def singles_cheaper(self, jobs: int, rows: int) -> bool:
        """Reading ``jobs`` one by one costs less than listing ``rows`` records. Until anything was
        timed, a single read counts as ``SINGLE_READ_ROWS`` records; once single reads were timed and
        a listing never was, a listing is taken to time it (else it never would be, however slow the
        singles) where it may cost at most ``EXPLORE_FACTOR`` times the singles by that count."""
        if self.single_s is None:
            return jobs * SINGLE_READ_ROWS < rows
        if self.row_s is None:
            return jobs * SINGLE_READ_ROWS * EXPLORE_FACTOR < rows
        return jobs * self.single_s < rows * self.row_s

    def read_alone(self, seconds: float, jobs: int) -> None:
        if jobs:
            self.single_s = _averaged(self.single_s, seconds / jobs)

    def listed(self, seconds: float, rows: int) -> None:
        if rows:
            self.row_s = _averaged(self.row_s, seconds / rows)


def _averaged(mean: float | None, sample: float) -> float:
    return sample if mean is None else mean + COST_SMOOTHING * (sample - mean)


class SlurmJobs:
    def __init__(self, rest: SlurmRest, *, ttl_s: float, use_accounting: bool) -> None:
        self.rest, self.ttl_s, self.use_accounting = rest, ttl_s, use_accounting
        self._listing: Listing | None = None  # the last one
        self._cycle_at = -math.inf  # monotonic start of the dispatch cycle (-inf: no dispatcher drives us)
        self._sent: dict[str, tuple[int, float]] = {}  # key -> (job id, when submitted)
        self._sent_ids: dict[int, float] = {}  # job id -> when submitted
        self.costs = ReadCosts()

    def begin_cycle(self) -> None:
        self._cycle_at = time.monotonic()

    def listing(self) -> Listing:
        """This cycle's listing, or a new one (the last one, if the controller says nothing changed)."""
        current = self._current()
        if current is None:
            current = self._listing = self._relist(self._listing)
        return current

    def known(self, key: str) -> int | None:
        """The job id of an earlier submission of ``key`` that this executor or the controller knows."""
        sent = self._sent.get(key)
        return sent[0] if sent is not None else self.listing().ids.get(job_name(key))

    def remember(self, key: str, job_id: int) -> None:
        now = time.monotonic()
        self._sent[key], self._sent_ids[job_id] = (job_id, now), now
        if len(self._sent) > SENT_MEMORY:
            oldest = next(iter(self._sent))
            self._sent_ids.pop(self._sent.pop(oldest)[0], None)

    def find_many(self, keys: Sequence[str]) -> dict[str, int]:
        found = {key: job_id for key in keys if (job_id := self.known(key)) is not None}
        missing = [key for key in keys if key not in found]
        if missing and self.use_accounting:
            found.update(self._accounted(missing))
        return found

    def seen(self, job_ids: Sequence[int]) -> Seen:
        """The jobs' records: sent this cycle (queued: not asked), read, else from accounting."""
        this_cycle = frozenset(i for i in job_ids if self._sent_this_cycle(i))
        asked = [i for i in job_ids if i not in this_cycle]
        records, unread = self._read(asked)
        gone = [i for i in asked if i not in records and i not in unread]
        accounted = self._accounting_by_id(gone) if gone and self.use_accounting else {}
        return Seen(records={**accounted, **records}, just_sent=this_cycle | unread)

    def _read(self, job_ids: Sequence[int]) -> tuple[Mapping[int, SlurmJob], frozenset[int]]:
        """From this cycle's listing if there is one, or one by one where that costs less than a
        listing (a single read costs about ``SINGLE_READ_ROWS`` records of a listing). Also: the
        jobs sent after the listing was taken (the engine has them; the listing cannot)."""
        if not job_ids:
            return {}, frozenset()
        if self._current() is None and self.costs.singles_cheaper(len(job_ids), self._table_size()):
            return self._read_each(job_ids), frozenset()
        listing = self.listing()
        unread = frozenset(i for i in job_ids if i not in listing.jobs and self._sent_after(i, listing))
        return listing.jobs, unread

    def _read_each(self, job_ids: Sequence[int]) -> dict[int, SlurmJob]:
        dialect, found, began = self.rest.dialect(), dict[int, SlurmJob](), time.monotonic()
        for job_id in job_ids:
            body = self.rest.call("GET", f"/slurm/{dialect.version}/job/{job_id}")
            errors = [e for e in parse_errors(body) if e.number != INVALID_JOB_ID]
            if errors:
                raise EngineUnavailable(f"Slurm did not say how job {job_id} is: {describe(errors)}")
            found.update((job.job_id, job) for job in map(dialect.parse_job, body.get("jobs") or []))
        self.costs.read_alone(time.monotonic() - began, len(job_ids))
        return found

    def _current(self) -> Listing | None:
        """The last listing, if it still speaks for now: taken this cycle, or within ``ttl_s``."""
        listing = self._listing
        if listing is None:
            return None
        if self._cycle_at > -math.inf:
            return listing if listing.taken_at >= self._cycle_at else None
        return listing if time.monotonic() - listing.taken_at <= self.ttl_s else None

    def _table_size(self) -> int:
        return self._listing.table_size if self._listing is not None else 0

    def _relist(self, last: Listing | None) -> Listing:
        taken_at, wall = time.monotonic(), time.time()
        fresh = last is not None and taken_at - last.full_at < FULL_LISTING_S
        status, body = self.rest.get_since(self._jobs_url(), last.update_time if last and fresh else None)
        _check_listed(body)
        dialect = self.rest.dialect()
        if last is not None and fresh and dialect.jobs_unchanged(status, body):
            return replace(last, taken_at=taken_at)
        update_time = dialect.last_update(body) or int(wall) - CLOCK_MARGIN_S
        records = self.controller_records(body)
        self.costs.listed(time.monotonic() - taken_at, len(records))
        return listing_of(records, dialect, taken_at=taken_at, update_time=update_time)

    def controller_records(self, body: Mapping[str, Any] | None = None) -> list[Mapping[str, Any]]:
        """The controller's job records: of ``body`` (a listing's answer), or listed now."""
        body = self.rest.call("GET", self._jobs_url()) if body is None else body
        return list(_check_listed(body).get("jobs") or [])

    def _jobs_url(self) -> str:
        return f"/slurm/{self.rest.dialect().version}/jobs"

    def accounting(self, call: SlurmCall) -> list[SlurmJob]:
        body = self.rest.send(call)
        errors = [e for e in parse_errors(body) if e.number not in {EMPTY_RESULT, INVALID_JOB_ID}]
        if errors:
            raise EngineUnavailable(f"Slurm accounting did not answer: {describe(errors)}")
        return [self.rest.dialect().parse_accounting_job(raw) for raw in body.get("jobs") or []]

    def _sent_this_cycle(self, job_id: int) -> bool:
        return self._cycle_at > -math.inf and self._sent_ids.get(job_id, -math.inf) >= self._cycle_at

    def _sent_after(self, job_id: int, listing: Listing) -> bool:
        return self._sent_ids.get(job_id, -math.inf) >= listing.taken_at

    def _accounted(self, keys: Sequence[str]) -> dict[str, int]:
        wanted = {job_name(key): key for key in keys}
        version, ids = self.rest.dialect().version, dict[str, int]()
        for chunk in batches(sorted(wanted)):
            for job in self.accounting(jobs_by_name(version, chunk)):
                if job.name in wanted:
                    ids[wanted[job.name]] = min(job.job_id, ids.get(wanted[job.name], job.job_id))
        return ids

    def _accounting_by_id(self, job_ids: Sequence[int]) -> dict[int, SlurmJob]:
        version, wanted = self.rest.dialect().version, set(job_ids)
        chunks = batches(sorted(wanted))
        found = [job for chunk in chunks for job in self.accounting(jobs_by_id(version, chunk))]
        return {job.job_id: job for job in found if job.job_id in wanted}


def _check_listed(body: Mapping[str, Any]) -> Mapping[str, Any]:
    errors = parse_errors(body)
    if errors:
        raise EngineUnavailable(f"Slurm did not list jobs: {describe(errors)}")
    return body
