"""Shared set-up for the benchmarks: a fresh migrated database and a platform on it; one project and
one engine driven by the production dispatcher."""

from __future__ import annotations

import statistics
import tempfile
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import sqlalchemy as sa

from pnyx.core.canonical import canonical_json
from pnyx.core.clock import SystemClock
from pnyx.db.engine import create_engine
from pnyx.db.migrate import upgrade
from pnyx.db.outbox import outbox
from pnyx.db.unit_of_work import UnitOfWork
from pnyx.dispatch.leadership import FileLeadership
from pnyx.dispatch.loop import Dispatcher
from pnyx.dispatch.plan import QueueAhead
from pnyx.dispatch.runner import dispatcher_on
from pnyx.jobs.executor import Executor
from pnyx.jobs.service import JobService, ProjectInfo
from pnyx.jobs.topology import fit_check
from pnyx.safety.classification import first
from pnyx.safety.model import SafetyLevel
from pnyx.safety.store import ClassificationRepository
from pnyx.settings import Settings
from pnyx.transparency.note import NoteSigner, generate_signer
from pnyx.wiring import Platform, build_platform

PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


@contextmanager
def fresh_platform(backend: str, pg_admin: str = PG_ADMIN) -> Iterator[Platform]:
    signer = NoteSigner.from_skey(generate_signer("bench.pnyx.example/log")[0])
    if backend == "sqlite":
        with tempfile.TemporaryDirectory() as tmp:
            url = f"sqlite:///{Path(tmp) / 'bench.db'}"
            yield _build(url, tmp, signer)
        return
    name = f"pnyx_bench_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(pg_admin, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        with tempfile.TemporaryDirectory() as tmp:
            url = sa.engine.make_url(pg_admin).set(database=name).render_as_string(hide_password=False)
            platform = _build(url, tmp, signer)
            yield platform
            platform.engine.dispose()
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _build(url: str, tmp: str, signer: NoteSigner) -> Platform:
    engine = create_engine(url)
    upgrade(engine)
    engine.dispose()
    settings = Settings.from_env({"PNYX_DATABASE_URL": url, "PNYX_DATA_DIR": tmp})
    return build_platform(settings, clock=SystemClock(), signer=signer)


def entry_bytes(i: int) -> bytes:
    """A realistic entry: about 200 bytes of canonical JSON."""
    return canonical_json(
        {
            "type": "bench.job.finished",
            "occurred_at": "2026-11-25T09:00:00.000000Z",
            "data": {
                "job_id": f"job_{i:012d}",
                "project": "prj_open_llm",
                "accelerators": 4096,
                "accelerator_seconds": 14_745_600 + i,
                "member_state": "DE",
            },
        }
    )


def fill_outbox(platform: Platform, count: int, chunk: int = 20_000) -> None:
    now = datetime.now(UTC)
    for start in range(0, count, chunk):
        rows = [
            {"event_type": "bench.job.finished", "entry": entry_bytes(i), "occurred_at": now}
            for i in range(start, min(count, start + chunk))
        ]
        with platform.engine.begin() as conn:
            conn.execute(outbox.insert(), rows)


def percentiles(samples_s: Sequence[float]) -> tuple[float, float]:
    ordered = sorted(samples_s)
    p50 = statistics.median(ordered)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return p50 * 1000, p99 * 1000


class OneProject:
    """Every job belongs to one awarded project of one member state (DE)."""

    def project(self, project_id: str) -> ProjectInfo | None:
        return ProjectInfo(id=project_id, member_state="DE", members=frozenset(), over_budget=False)


def classified(platform: Platform, project: str) -> None:
    """The benchmark's project classified L1 (confirmed: no officer needed), as a proposal of an
    awarded project under the default policy would be: the dispatcher's safety metering needs it."""
    with platform.uow.write() as tx:
        ClassificationRepository(tx.conn).add_once(first(project, SafetyLevel.L1, "benchmark", tx.now))


def single_engine(
    platform: Platform, engine: str, executor: Executor, lock: Path
) -> tuple[JobService, Dispatcher]:
    """The jobs service and the production dispatcher over one engine and the platform's inventory."""
    jobs = JobService(
        UnitOfWork(engine=platform.engine, clock=SystemClock()),
        projects=OneProject(),
        executors={engine: executor},
        default_engine=engine,
        fits=fit_check(platform.topology),
    )
    classified(platform, "bench")
    dispatcher = dispatcher_on(  # the server's: usage metered, decisions logged, outputs taken in
        platform,
        jobs=jobs,
        topology=platform.topology.topology,
        executors={engine: executor},
        shares=lambda _at: {"DE": Decimal(1)},
        leadership=FileLeadership(lock),
        queue_ahead=QueueAhead(),
    )
    platform.topology.topology()  # built once, as in a running server
    return jobs, dispatcher
