"""Submission under load, against a real uvicorn server on both databases.

200 concurrent submissions: no 5xx, every 201 is a stored job and every stored job was answered 201,
``/health`` answers during the burst, and no request ever holds two pooled connections at once.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
import sqlalchemy as sa

from pnyx.executors.fake import FakeExecutor
from pnyx.jobs.service import JobService, ProjectInfo
from pnyx.jobs.store import jobs as jobs_table
from pnyx.jobs.topology import fit_check
from pnyx.wiring import Platform
from tests.conftest import LiveServer
from tests.dispatch.conftest import FakeProjects

BURST = 200
JOB = {"project": "open-llm", "accelerators": 8, "estimate_s": 3600, "command": ["python", "t.py"]}


class HeldConnections:
    """Counts the pooled connections each thread holds; remembers the most any thread held at once."""

    def __init__(self, engine: sa.Engine) -> None:
        self.held: Counter[int] = Counter()
        self.most = 0
        self.lock = threading.Lock()
        sa.event.listen(engine, "checkout", self._out)
        sa.event.listen(engine, "checkin", self._in)

    def _out(self, *_args: object) -> None:
        with self.lock:
            self.held[threading.get_ident()] += 1
            self.most = max(self.most, self.held[threading.get_ident()])

    def _in(self, *_args: object) -> None:
        with self.lock:
            self.held[threading.get_ident()] -= 1


class StoredProjects(FakeProjects):
    """The fake projects, looked up through a database read of their own, as the real adapter does."""

    def __init__(self, platform: Platform) -> None:
        super().__init__()
        self.platform = platform

    def project(self, project_id: str) -> ProjectInfo | None:
        with self.platform.uow.read() as conn:
            conn.execute(sa.text("SELECT 1"))
        return super().project(project_id)


@pytest.fixture
def loaded(platform: Platform) -> Iterator[tuple[LiveServer, HeldConnections, str]]:
    platform.inventory.generate(64, seed=1)
    platform.identity.register_user(name="ada", roles=["researcher"])
    token = platform.identity.issue_token("ada").secret
    jobs = JobService(
        platform.uow,
        projects=StoredProjects(platform),
        executors={"fake": FakeExecutor()},
        default_engine="fake",
        fits=fit_check(platform.topology),
    )
    held = HeldConnections(platform.engine)
    with LiveServer(dataclasses.replace(platform, jobs=jobs)) as server:
        yield server, held, token


def _stored(platform: Platform) -> int:
    with platform.engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(jobs_table)).scalar_one())


def _probe_health(url: str, stop: threading.Event, answers: list[tuple[int, float]]) -> None:
    with httpx.Client(base_url=url, timeout=30) as client:
        while not stop.is_set():
            began = time.monotonic()
            answers.append((client.get("/health").status_code, time.monotonic() - began))
            time.sleep(0.05)


@pytest.mark.slow
def test_a_burst_of_submissions(platform: Platform, loaded: tuple[LiveServer, HeldConnections, str]) -> None:
    server, held, token = loaded
    headers = {"Authorization": f"Bearer {token}"}
    stop, health = threading.Event(), list[tuple[int, float]]()
    prober = threading.Thread(target=_probe_health, args=(server.url, stop, health))
    limits = httpx.Limits(max_connections=BURST, max_keepalive_connections=BURST)
    with httpx.Client(base_url=server.url, timeout=120, limits=limits) as client:
        prober.start()
        with ThreadPoolExecutor(BURST) as pool:
            answers = list(
                pool.map(
                    lambda i: client.post("/api/v1/jobs", json={**JOB, "name": f"j{i}"}, headers=headers),
                    range(BURST),
                )
            )
        stop.set()
        prober.join()
    statuses = Counter(a.status_code for a in answers)
    assert statuses == {201: BURST}, [a.text for a in answers if a.status_code != 201][:3]
    assert _stored(platform) == statuses[201]
    assert len({a.json()["id"] for a in answers}) == BURST
    assert health, "/health was never answered"
    assert {status for status, _ in health} == {200}
    assert max(seconds for _, seconds in health) < 10
    assert held.most == 1  # no thread ever held two pooled connections


def test_a_full_pool_answers_503_with_retry_after(platform: Platform, tokens: dict[str, str]) -> None:
    """When no connection frees up in time, the client is told to come back, not given a 500."""
    from fastapi.testclient import TestClient

    from pnyx.db.unit_of_work import UnitOfWork
    from pnyx.identity.service import IdentityService
    from pnyx.server import create_app

    tiny = sa.create_engine(platform.settings.database_url, pool_size=1, max_overflow=0, pool_timeout=0.2)
    identity = IdentityService(UnitOfWork(engine=tiny, clock=platform.clock))
    app = create_app(
        dataclasses.replace(platform, identity=identity), run_appender=False, run_dispatcher=False
    )
    try:
        with TestClient(app) as client, tiny.connect():  # the one connection is taken
            response = client.get("/api/v1/jobs", headers={"Authorization": tokens["researcher"]})
    finally:
        tiny.dispose()
    assert response.status_code == 503
    assert response.headers["retry-after"].isdigit()
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "server_busy"
