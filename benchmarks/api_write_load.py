"""API write load on PostgreSQL: concurrent job submissions against a real server, over loopback.

Seeds the demo facility (real users, awarded projects, inventory) in a fresh database, starts the
served app the way ``pnyx serve`` does (uvicorn, own process, log appender on, dispatch loop off so
that no job runs), then has --clients submitters post jobs for --seconds. Prints p50/p99 latency,
throughput, the answers by status (5xx must be zero) and checks stored jobs == 201 answers.
Peer, in the same run: the same submissions straight through ``JobService.submit`` (no HTTP).
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import httpx
import sqlalchemy as sa

from benchmarks.common import PG_ADMIN, percentiles
from pnyx.db.engine import create_engine
from pnyx.db.migrate import upgrade
from pnyx.demo.service import seed_demo
from pnyx.jobs.service import Submission
from pnyx.jobs.store import jobs as jobs_table
from pnyx.settings import Settings
from pnyx.transparency.signing import create_key_file
from pnyx.wiring import Platform, build_platform

RESEARCHER = "ada"
SERVER = (  # what `pnyx serve` runs, without its access log
    "import uvicorn; uvicorn.run('pnyx.server:create_app', factory=True, host='127.0.0.1', port={port}, "
    "log_level='warning')"
)


@contextmanager
def fresh_database(admin_url: str) -> Iterator[str]:
    name = f"pnyx_bench_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        url = sa.engine.make_url(admin_url).set(database=name).render_as_string(hide_password=False)
        engine = create_engine(url)
        upgrade(engine)
        engine.dispose()
        yield url
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def seed(env: dict[str, str], accelerators: int) -> tuple[str, str]:
    """The demo facility; returns a researcher's token and a project they lead."""
    settings = Settings.from_env(env)
    create_key_file(settings.log_key_file, settings.log_origin)
    platform = build_platform(settings)
    try:
        result = seed_demo(platform, accelerators=accelerators)
        token = dict(result.tokens)[RESEARCHER].secret
        ada = platform.identity.principal_of(RESEARCHER)
        project = next(
            a.project_id
            for a in platform.awards.active_allocations(platform.clock.now())
            if a.pi_user_id == ada.user_id
        )
    finally:
        platform.engine.dispose()
    return token, project


@contextmanager
def server(env: dict[str, str]) -> Iterator[str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-c", SERVER.format(port=port)], env={**os.environ, **env}, cwd=env["PNYX_DATA_DIR"]
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(url + "/health", timeout=2).raise_for_status()
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("the server did not start") from None
                time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


def job(project: str, i: int) -> dict[str, object]:
    return {
        "name": f"bench-{i}",
        "project": project,
        "accelerators": 8,
        "estimate_s": 3600,
        "command": ["python", "-c", "print('hello')"],
    }


def hammer(clients: int, seconds: float, submit: Callable[[int], int]) -> tuple[list[float], Counter[int]]:
    """``clients`` threads calling ``submit`` until the time is up; latencies and status counts."""
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    lock = threading.Lock()
    deadline = time.monotonic() + seconds
    counter = iter(range(10**9))

    def worker() -> None:
        while time.monotonic() < deadline:
            i = next(counter)
            began = time.perf_counter()
            status = submit(i)
            took = time.perf_counter() - began
            with lock:
                latencies.append(took)
                statuses[status] += 1

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latencies, statuses


def over_http(url: str, token: str, project: str) -> Callable[[int], int]:
    limits = httpx.Limits(max_connections=1000, max_keepalive_connections=1000)
    client = httpx.Client(
        base_url=url, timeout=120, limits=limits, headers={"Authorization": f"Bearer {token}"}
    )

    def submit(i: int) -> int:
        try:
            return client.post("/api/v1/jobs", json=job(project, i)).status_code
        except httpx.HTTPError:
            return 0  # no answer at all (counted apart)

    return submit


def in_process(platform: Platform, project: str) -> Callable[[int], int]:
    ada = platform.identity.principal_of(RESEARCHER)

    def submit(i: int) -> int:
        body = job(project, i)
        platform.jobs.submit(
            ada,
            Submission(
                name=str(body["name"]),
                project=project,
                accelerators=8,
                estimate_s=3600,
                command=("python", "-c", "print('hello')"),
            ),
        )
        return 201

    return submit


def stored(url: str, prefix: str = "bench-") -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            query = (
                sa.select(sa.func.count()).select_from(jobs_table).where(jobs_table.c.name.like(f"{prefix}%"))
            )
            return int(conn.execute(query).scalar_one())
    finally:
        engine.dispose()


def report(label: str, latencies: list[float], statuses: Counter[int], seconds: float) -> None:
    p50, p99 = percentiles(latencies) if latencies else (0.0, 0.0)
    errors = sum(n for s, n in statuses.items() if s >= 500)
    print(
        f"{label:<28} {len(latencies):>7,} requests  {len(latencies) / seconds:8.1f}/s  "
        f"p50 {p50:7.1f} ms  p99 {p99:7.1f} ms  5xx {errors}  no answer {statuses[0]}  "
        f"by status {dict(sorted(statuses.items()))}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--peer-seconds", type=float, default=10.0, help="0: skip the in-process peer")
    parser.add_argument("--accelerators", type=int, default=4096, help="size of the seeded facility")
    parser.add_argument("--pg-admin", default=os.environ.get("PNYX_TEST_POSTGRES_URL", PG_ADMIN))
    args = parser.parse_args()
    with fresh_database(args.pg_admin) as url, tempfile.TemporaryDirectory() as data_dir:
        env = {"PNYX_DATABASE_URL": url, "PNYX_DATA_DIR": data_dir, "PNYX_DISPATCH": "0"}
        token, project = seed(env, args.accelerators)
        print(f"PostgreSQL, {args.clients} clients, {args.seconds:.0f} s, project {project}", flush=True)
        with server(env) as base:
            latencies, statuses = hammer(args.clients, args.seconds, over_http(base, token, project))
        report("HTTP POST /api/v1/jobs", latencies, statuses, args.seconds)
        kept = stored(url)
        print(f"stored jobs {kept:,}  201 answers {statuses[201]:,}  equal: {kept == statuses[201]}")
        if args.peer_seconds > 0:
            platform = build_platform(Settings.from_env(env))
            try:
                peer = hammer(args.clients, args.peer_seconds, in_process(platform, project))
                report("peer: JobService.submit", *peer, args.peer_seconds)
            finally:
                platform.engine.dispose()


if __name__ == "__main__":
    main()
