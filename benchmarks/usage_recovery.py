"""What a new leader's usage recovery (``UsageRecorder.recover``: docs/adr/0006) costs when it takes
the lead, on SQLite and PostgreSQL: a fresh database holding ``--ended`` jobs closed in the last day
(rows copied from one submitted job), the usage of all but ``MISSING`` of them recorded. Timed, each
``--repeat`` times, taking turns: the whole scan (its two reads, their diff, the missing ones queued),
each of its two reads alone (``JobService.closed_since``, ``AccountingService.recorded_since``), and
the peer, the outputs' recovery read run in the same ``if not leading`` step
(``JobService.completed_without_artifacts``, limit 5,000, no job having outputs).

  PYTHONPATH=. .venv/bin/python -m benchmarks.usage_recovery [--backend sqlite] [--backend postgresql]
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from datetime import timedelta

import sqlalchemy as sa

from benchmarks.common import fresh_platform
from benchmarks.wake_cost import USER, service, timed
from pnyx.accounting.store import usage_records
from pnyx.dispatch.outputs import RECOVERY_LIMIT, RECOVERY_WINDOW
from pnyx.dispatch.usage import USAGE_RECOVERY, USAGE_RECOVERY_LIMIT, UsageRecorder
from pnyx.jobs.service import JobService
from pnyx.jobs.store import jobs as jobs_table
from pnyx.jobs.submission import Submission
from pnyx.wiring import Platform

MISSING = 10  # closed jobs whose usage a stopped leader did not record


def fill(platform: Platform, jobs: JobService, ended: int) -> None:
    """``ended`` completed jobs, one a few seconds apart over the last day; all but ``MISSING`` with a
    usage record (5,000 rows an insert)."""
    submission = Submission(
        name="template", project="bench", accelerators=1, estimate_s=600, command=("x",), engine="fake"
    )
    template_id = jobs.submit(USER, submission).id
    with platform.engine.begin() as conn:
        row = conn.execute(sa.select(jobs_table).where(jobs_table.c.id == template_id)).mappings().one()
        conn.execute(jobs_table.delete().where(jobs_table.c.id == template_id))
    now, template = platform.clock.now(), dict(row)
    step = timedelta(days=1) / ended
    for start in range(0, ended, 5_000):
        batch = range(start, min(ended, start + 5_000))
        rows = [
            {
                **template,
                "id": f"job_{i:08d}",
                "status": "completed",
                "started_at": now - step * i - timedelta(hours=1),
                "ended_at": now - step * i,
            }
            for i in batch
        ]
        with platform.engine.begin() as conn:
            conn.execute(jobs_table.insert(), rows)
            conn.execute(usage_records.insert(), [_usage(r) for r in rows[MISSING if start == 0 else 0 :]])


def _usage(job: dict[str, object]) -> dict[str, object]:
    return {
        "id": f"use_{job['id']}",
        "job_id": f"{job['id']}-a{job['attempt']}",
        "project_id": "bench",
        "accelerator_type": "H100-SXM",
        "accelerators": 1,
        "started_at": job["started_at"],
        "ended_at": job["ended_at"],
        "accelerator_seconds": 3600,
        "h100_equivalent_seconds": 3600,
        "energy_wh": 700,
    }


def calls(platform: Platform, jobs: JobService) -> dict[str, Callable[[], object]]:
    now = platform.clock.now()

    def scan() -> object:
        recorder, errors = UsageRecorder(platform.accounting), list[str]()
        assert recorder.recover(jobs, now, errors)
        assert errors == []
        assert len(recorder._due) == MISSING  # the ones left out of accounting, queued
        return recorder

    return {
        "scan": scan,
        "closed": lambda: jobs.closed_since(since=now - USAGE_RECOVERY, limit=USAGE_RECOVERY_LIMIT),
        "keys": lambda: platform.accounting.recorded_since(now - USAGE_RECOVERY),
        "outputs": lambda: jobs.completed_without_artifacts(
            since=now - RECOVERY_WINDOW, limit=RECOVERY_LIMIT
        ),
    }


def measure(backend: str, ended: int, repeat: int) -> None:
    with fresh_platform(backend) as platform:
        jobs = service(platform)
        fill(platform, jobs, ended)
        ms = timed(calls(platform, jobs), repeat)
        cells = " ".join(f"{name} {p50:8.1f} / {p99:8.1f}" for name, (p50, p99) in ms.items())
        print(f"{backend:<10} {ended:>7} ended, {MISSING} missing; ms p50 / p99: {cells}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--backend", action="append", choices=["sqlite", "postgresql"])
    parser.add_argument("--ended", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print(f"load average {os.getloadavg()}", flush=True)
    for backend in args.backend or ["sqlite", "postgresql"]:
        measure(backend, args.ended, args.repeat)
    print(f"load average {os.getloadavg()}", flush=True)


if __name__ == "__main__":
    main()
