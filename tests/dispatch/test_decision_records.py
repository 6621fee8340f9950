"""Decision records (issue 14): real dispatch cycles over a fake engine write records whose replay,
from the log alone, agrees; a tampered, missing or unknown record is named at its index. On SQLite and
PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from pnyx.audit.replay import CYCLE, TOPOLOGY, ReplayReport, replay
from pnyx.audit.version import scheduler_version
from pnyx.cli.main import app
from pnyx.core.clock import FrozenClock
from pnyx.dispatch.decision_log import DecisionRecorder
from pnyx.dispatch.leadership import FileLeadership
from pnyx.dispatch.loop import Dispatcher
from pnyx.dispatch.plan import QueueAhead
from pnyx.executors.fake import FakeExecutor
from pnyx.jobs.rules import to_scheduler_job
from pnyx.jobs.service import JobService, Submission
from pnyx.scheduler.admission import check_fits
from pnyx.scheduler.model import PriorityClass
from pnyx.scheduler.policy import policy_named
from pnyx.wiring import Platform
from tests.conftest import LiveServer
from tests.dispatch.conftest import ADA, FakeProjects
from tests.dispatch.test_dispatch_states import QueueingEngine, two_nodes

Entries = list[tuple[int, dict[str, Any]]]


@dataclass
class Rig:
    jobs: JobService
    engine: FakeExecutor
    dispatcher: Dispatcher
    clock: FrozenClock

    def submit(self, accelerators: int, cls: PriorityClass = PriorityClass.ENTITLED) -> str:
        submission = Submission(
            name="d",
            project="open-llm",
            accelerators=accelerators,
            estimate_s=600,
            command=("t",),
            priority_class=cls,
        )
        return self.jobs.submit(ADA, submission).id


@pytest.fixture
def rig(platform: Platform, clock: FrozenClock, tmp_path: Path) -> Iterator[Rig]:
    topology = two_nodes()
    engine = FakeExecutor(clock)
    jobs = JobService(
        platform.uow,
        projects=FakeProjects(),
        fits=lambda record: check_fits(to_scheduler_job(record), topology),
        executors={"fake": engine},
        default_engine="fake",
    )
    dispatcher = Dispatcher(
        jobs=jobs,
        topology=lambda: topology,
        executors={"fake": engine},
        shares=lambda _at: {"DE": Decimal(2), "FR": Decimal(1)},
        clock=clock,
        policy=policy_named("full"),
        leadership=FileLeadership(tmp_path / "lock"),
        decisions=DecisionRecorder(platform.uow),
    )
    yield Rig(jobs=jobs, engine=engine, dispatcher=dispatcher, clock=clock)
    dispatcher.close()


def _cycles(rig: Rig) -> None:
    """Starts, a finish, a preemption and a rejection-free queue over several cycles."""
    low = [rig.submit(8, PriorityClass.PREEMPTIBLE) for _ in range(2)]
    rig.dispatcher.cycle()  # both nodes go to preemptible work
    rig.clock.advance(timedelta(seconds=30))
    rig.submit(8)  # an entitled job preempts one of them
    rig.dispatcher.cycle()
    rig.clock.advance(timedelta(seconds=30))
    rig.dispatcher.cycle()  # nothing decided: nothing recorded
    for key in list(rig.engine.states):
        if key.startswith(low[0]) or key.startswith(low[1]):
            rig.engine.finish(key)
    rig.clock.advance(timedelta(seconds=30))
    rig.submit(4)
    rig.submit(4)
    rig.dispatcher.cycle()
    rig.clock.advance(timedelta(seconds=30))
    rig.dispatcher.cycle()


def logged(platform: Platform) -> Entries:
    """Every entry of the platform's log, drained first, parsed, with its index."""
    platform.log.drain()
    size = platform.log.size()
    found = [
        e for start in range(0, size, 1000) for e in platform.log.entries(start, min(1000, size - start))
    ]
    return [(i, json.loads(e.data)) for i, e in enumerate(found)]


def _records(entries: Entries) -> list[int]:
    return [i for i, e in entries if e["type"] == CYCLE]


def _replayed(entries: Entries) -> ReplayReport:
    return replay(entries, {scheduler_version()})


def test_real_cycles_replay_in_agreement(rig: Rig, platform: Platform) -> None:
    _cycles(rig)
    entries = logged(platform)
    report = _replayed(entries)
    assert report.ok, report.problems
    assert report.cycles == len(_records(entries)) >= 3
    assert report.agreed == report.cycles
    assert sum(e["type"] == TOPOLOGY for _, e in entries) == 1  # published once, unchanged since
    bodies = [e["data"]["body"] for _, e in entries if e["type"] == CYCLE]
    assert bodies[0]["reset"]
    assert not any(b["reset"] for b in bodies[1:])
    assert any(b.get("preemptions") for b in bodies)
    assert report.used["DE"] > 0


def test_a_cycle_that_decides_nothing_appends_nothing(rig: Rig, platform: Platform) -> None:
    rig.submit(8)
    rig.dispatcher.cycle()
    assert len(_records(logged(platform))) == 1
    rig.clock.advance(timedelta(seconds=30))
    rig.dispatcher.cycle()  # it runs on; nothing else waits
    assert len(_records(logged(platform))) == 1


def _alter(entries: Entries, index: int, change: Any) -> Entries:
    out = [(i, json.loads(json.dumps(e))) for i, e in entries]
    change(out[index][1]["data"])
    return out


def test_an_altered_start_node_is_named_at_its_record(rig: Rig, platform: Platform) -> None:
    _cycles(rig)
    entries = logged(platform)
    first = _records(entries)[0]
    start = entries[first][1]["data"]["body"]["starts"][0]

    def other_node(data: dict[str, Any]) -> None:
        data["body"]["starts"][0][2] = [1 - start[2][0]]

    report = _replayed(_alter(entries, first, other_node))
    assert report.problems[0].index == first
    assert f"starts of job {start[0]}" in report.problems[0].message


def test_a_changed_share_is_named_at_its_record(rig: Rig, platform: Platform) -> None:
    _cycles(rig)
    entries = logged(platform)
    first = _records(entries)[0]

    def share(data: dict[str, Any]) -> None:
        data["body"]["shares"]["members"] = [
            [m, 5 if m == "FR" else w] for m, w in data["body"]["shares"]["members"]
        ]

    report = _replayed(_alter(entries, first, share))
    # the next record names the digest of the real one: the altered record does not lead to it
    assert report.problems
    assert report.problems[0].index == _records(entries)[1]
    assert "as the record before" in report.problems[0].message


def test_a_removed_record_is_named_where_the_gap_shows(rig: Rig, platform: Platform) -> None:
    _cycles(rig)
    entries = logged(platform)
    records = _records(entries)
    report = _replayed([pair for pair in entries if pair[0] != records[1]])
    gap = [p.index for p in report.problems if "record(s) missing" in p.message]
    assert gap == [records[2]]
    first = report.problems[0]  # the removed record's own dispatches show first: nothing decided them
    assert records[1] < first.index < records[2]
    assert f"but the decision record before it (index {records[0]})" in first.message


def test_an_unknown_scheduler_version_is_named(rig: Rig, platform: Platform) -> None:
    _cycles(rig)
    entries = logged(platform)
    report = replay(entries, {"sha256:another"})
    assert report.problems[0].index == _records(entries)[0]
    assert "scheduler version" in report.problems[0].message


def test_replay_over_http_from_the_log_alone(rig: Rig, platform: Platform, live_server: LiveServer) -> None:
    _cycles(rig)
    platform.log.drain()
    assert platform.log.signer is not None
    result = CliRunner().invoke(
        app,
        ["audit", "replay", f"{live_server.url}/log", "--key", platform.log.signer.vkey],
        env={"COLUMNS": "300"},
    )
    assert result.exit_code == 0, result.output
    assert "in agreement" in result.output


def test_work_queued_ahead_replays_in_agreement(
    platform: Platform, clock: FrozenClock, tmp_path: Path
) -> None:
    topology = two_nodes()
    engine = QueueingEngine(clock)
    jobs = JobService(
        platform.uow,
        projects=FakeProjects(),
        fits=lambda record: check_fits(to_scheduler_job(record), topology),
        executors={"fake": engine},
        default_engine="fake",
    )
    dispatcher = Dispatcher(
        jobs=jobs,
        topology=lambda: topology,
        executors={"fake": engine},
        shares=lambda _at: {"DE": Decimal(1)},
        clock=clock,
        policy=policy_named("full"),
        leadership=FileLeadership(tmp_path / "lock"),
        queue_ahead=QueueAhead(engines=frozenset({"fake"}), depth=2),
        decisions=DecisionRecorder(platform.uow),
    )
    rig = Rig(jobs=jobs, engine=engine, dispatcher=dispatcher, clock=clock)
    try:
        ids = [rig.submit(8) for _ in range(3)]
        dispatcher.cycle()
        clock.advance(timedelta(seconds=30))
        for key in list(engine.states):
            engine.run(key, clock.now())
        rig.submit(8)
        dispatcher.cycle()
    finally:
        dispatcher.close()
    entries = logged(platform)
    report = _replayed(entries)
    assert report.ok, report.problems
    ahead = [row[0] for _, e in entries if e["type"] == CYCLE for row in e["data"]["body"].get("ahead", [])]
    assert ahead
    assert set(ahead) <= set(ids) | {j.id for j in jobs.active()}
