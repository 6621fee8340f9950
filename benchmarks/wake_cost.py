"""What the dispatch loop's wake (``dispatch.wake``) costs the database, SQLite and PostgreSQL: the
count of pending jobs it looks at 5 times a second while idle (``JobService.waiting``) and, per quiet
cycle, the read of the pending jobs' ids (unordered) it takes when a cycle begins and when the wait
begins (``JobService.waiting_ids``), on a fresh database holding ``--ended`` ended jobs, with 0, 1,000
and 10,000 jobs pending (rows copied from one submitted job). Peers, same run, same rows, timed in
turn with them (``--repeat`` rounds, each read once a round): the reads they replaced (a count and an
oldest-first read of ids and revisions, both over every unplaced status) and the cycle's own listing
of the active jobs (``JobRepository.revisions``, as ``dispatch.job_cache`` reads it).

  PYTHONPATH=. .venv/bin/python -m benchmarks.wake_cost [--backend sqlite] [--backend postgresql]
"""

from __future__ import annotations

import argparse
import os
import random
import time
from collections.abc import Callable

import sqlalchemy as sa

from benchmarks.common import OneProject, fresh_platform, percentiles
from pnyx.core.clock import SystemClock
from pnyx.core.ids import UserId
from pnyx.db.unit_of_work import UnitOfWork
from pnyx.executors.fake import FakeExecutor
from pnyx.identity.model import Principal, Role
from pnyx.jobs.model import ACTIVE_JOB_STATUSES, UNPLACED_STATUSES, JobStatus
from pnyx.jobs.service import JobService
from pnyx.jobs.store import JobRepository
from pnyx.jobs.store import jobs as jobs_table
from pnyx.jobs.submission import Submission
from pnyx.jobs.topology import fit_check
from pnyx.wiring import Platform

USER = Principal(user_id=UserId("usr_bench"), name="bench", roles=frozenset({Role.RESEARCHER}))
LOOKS_PER_S = 5  # dispatch.wake.LOOK_EVERY_S = 0.2
WAITING = (0, 1_000, 10_000)
OLD_COUNT = (
    sa.select(sa.func.count())
    .select_from(jobs_table)
    .where(jobs_table.c.status.in_(sorted(s.value for s in UNPLACED_STATUSES)))
)


def service(platform: Platform) -> JobService:
    platform.inventory.generate(64, seed=1)
    return JobService(
        UnitOfWork(engine=platform.engine, clock=SystemClock()),
        projects=OneProject(),
        fits=fit_check(platform.topology),
        executors={"fake": FakeExecutor()},
        default_engine="fake",
    )


def copies(platform: Platform, template: dict[str, object], prefix: str, n: int, status: JobStatus) -> None:
    """``n`` rows like ``template``, in ``status``, inserted 5,000 at a time."""
    for start in range(0, n, 5_000):
        rows = [
            {**template, "id": f"job_{prefix}_{i:08d}", "name": f"{prefix}-{i}", "status": status.value}
            for i in range(start, min(n, start + 5_000))
        ]
        with platform.engine.begin() as conn:
            conn.execute(jobs_table.insert(), rows)


def reads(jobs: JobService) -> dict[str, Callable[[], object]]:
    """The wake's reads, those they replaced, and the cycle's own listing: each in its own read."""

    def old_count() -> object:
        with jobs.uow.read() as conn:
            return conn.execute(OLD_COUNT).scalar_one()

    def old_ids() -> object:
        with jobs.uow.read() as conn:
            return frozenset(job_id for job_id, _ in JobRepository(conn).revisions(UNPLACED_STATUSES))

    def listing() -> object:
        with jobs.uow.read() as conn:
            return JobRepository(conn).revisions(ACTIVE_JOB_STATUSES)

    return {
        "count": jobs.waiting,
        "old count": old_count,
        "ids": jobs.waiting_ids,
        "old ids": old_ids,
        "listing": listing,
    }


def timed(calls: dict[str, Callable[[], object]], repeat: int) -> dict[str, tuple[float, float]]:
    """Each call's p50 and p99 (ms), the calls taking turns: each once a round, ``repeat`` rounds, in a
    shuffled order (a read right after a large one is slower: each follows each as often)."""
    samples: dict[str, list[float]] = {name: [] for name in calls}
    named, shuffle = list(calls.items()), random.Random(1).shuffle
    for _ in range(repeat):
        shuffle(named)
        for name, call in named:
            began = time.perf_counter()
            call()
            samples[name].append(time.perf_counter() - began)
    return {name: percentiles(taken) for name, taken in samples.items()}


def line(backend: str, ended: int, waiting: int, ms: dict[str, tuple[float, float]]) -> str:
    count, ids = ms["count"][0], ms["ids"][0]
    return (
        f"{backend:<10} {ended:>7} {waiting:>8} {count:>7.2f} {ms['old count'][0]:>9.2f} "
        f"{count * LOOKS_PER_S / 10:>9.2f}% {ids:>7.2f} {ms['ids'][1]:>7.2f} {ms['old ids'][0]:>7.2f} "
        f"{ms['old ids'][0] / ids:>6.2f}x {ms['listing'][0]:>8.2f}"
    )


def measure(backend: str, ended: int, repeat: int) -> None:
    with fresh_platform(backend) as platform:
        jobs = service(platform)
        submission = Submission(
            name="template", project="bench", accelerators=1, estimate_s=600, command=("x",), engine="fake"
        )
        template_id = jobs.submit(USER, submission).id
        with platform.engine.connect() as conn:
            row = conn.execute(sa.select(jobs_table).where(jobs_table.c.id == template_id)).mappings().one()
        template = dict(row)
        with platform.engine.begin() as conn:
            conn.execute(jobs_table.delete().where(jobs_table.c.id == template_id))
        copies(platform, template, "ended", ended, JobStatus.COMPLETED)
        waiting, calls = 0, reads(jobs)
        for target in WAITING:
            copies(platform, template, f"w{target}", target - waiting, JobStatus.PENDING)
            waiting = target
            print(line(backend, ended, waiting, timed(calls, repeat)), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--backend", action="append", choices=["sqlite", "postgresql"])
    parser.add_argument("--ended", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=200)
    args = parser.parse_args()
    print(f"load average at start: {os.getloadavg()[0]:.2f}")
    print("p50 in ms unless said; old: the reads before (every unplaced status; ids oldest first)")
    print(
        f"{'backend':<10} {'ended':>7} {'waiting':>8} {'count':>7} {'old count':>9} {'idle core':>10} "
        f"{'ids':>7} {'ids p99':>7} {'old ids':>7} {'old/ids':>7} {'listing':>8}"
    )
    for backend in args.backend or ["sqlite", "postgresql"]:
        measure(backend, args.ended, args.repeat)
    print(f"load average at end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
