"""``pnyx simulate --from-log``: the twin starts from the state of the last decision record in the
public log, verified as ``pnyx audit replay`` verifies it; it is the state ``--from-db`` reads at that
moment, and the twin run from either says the same. A log that does not replay, a wrong key, an
unreachable log and a log with no record yet are refused with a clear error. On SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from pnyx.audit.replay import CYCLE
from pnyx.audit.version import scheduler_version
from pnyx.cli.log_source import log_keys
from pnyx.cli.sim_log import last_state, read_log
from pnyx.cli.sim_state import FacilityState, read_state, simulate_state
from pnyx.core.clock import FrozenClock
from pnyx.core.errors import FacilityError, IntegrityFailure, NotFound
from pnyx.core.ids import UserId
from pnyx.dispatch.decision_log import DecisionRecorder
from pnyx.dispatch.fair import FairShare
from pnyx.dispatch.leadership import FileLeadership
from pnyx.dispatch.loop import Dispatcher
from pnyx.executors.fake import FakeExecutor
from pnyx.identity.model import LOCAL_CONSOLE, Principal, Role
from pnyx.jobs.service import JobService, ProjectInfo, Submission
from pnyx.jobs.topology import fit_check
from pnyx.scheduler.model import PriorityClass
from pnyx.scheduler.policy import policy_named
from pnyx.sim.engine import SimResult
from pnyx.sim.failures import NO_FAILURES
from pnyx.transparency.note import generate_signer
from pnyx.wiring import FacilityLedger, Platform
from tests.conftest import LiveServer

ANA = Principal(user_id=UserId("usr_ana"), name="ana", roles=frozenset({Role.RESEARCHER}))
Entries = list[tuple[int, dict[str, Any]]]


class StateProjects:
    def project(self, project_id: str) -> ProjectInfo | None:
        state = project_id.split("-", maxsplit=1)[0].upper()
        return ProjectInfo(id=project_id, member_state=state, members=frozenset(), over_budget=False)


def _facility(platform: Platform, clock: FrozenClock, tmp_path: Path) -> None:
    """Five H100 nodes under the production dispatcher (fair share from the ledger, decision records):
    DE runs a job to the end; FR's preemptible work fills the nodes; entitled work preempts some of it
    in the last cycle, which decides and is recorded."""
    platform.member_states.admit(code="DE", name="Germany", contribution_minor_units=600, population=84)
    platform.member_states.admit(code="FR", name="France", contribution_minor_units=400, population=68)
    platform.inventory.generate(96, seed=1)
    fake = FakeExecutor(clock)
    jobs = JobService(
        platform.uow,
        projects=StateProjects(),
        executors={"fake": fake},
        default_engine="fake",
        fits=fit_check(platform.topology),
    )
    dispatcher = Dispatcher(
        jobs=jobs,
        topology=platform.topology.topology,
        executors={"fake": fake},
        shares=FairShare(platform.member_shares, FacilityLedger(platform.accounting, platform.awards)),
        clock=clock,
        policy=policy_named("full"),
        leadership=FileLeadership(tmp_path / "lock"),
        usage=platform.accounting,
        decisions=DecisionRecorder(platform.uow),
    )

    def submit(project: str, cls: PriorityClass = PriorityClass.ENTITLED, estimate_s: int = 7_200) -> str:
        wanted = Submission(
            name=project,
            project=project,
            accelerators=8,
            estimate_s=estimate_s,
            accelerator_type="H100-SXM",
            command=("train",),
            engine="fake",
            priority_class=cls,
        )
        return jobs.submit(ANA, wanted).id

    try:
        first = submit("de-a")
        dispatcher.cycle()
        clock.advance(timedelta(hours=1))
        fake.finish(jobs.get(LOCAL_CONSOLE, first).idempotency_key)
        for project in ("fr-a", "fr-b", "fr-a", "fr-c", "fr-b"):
            submit(project, PriorityClass.PREEMPTIBLE, estimate_s=10_800)
        dispatcher.cycle()
        clock.advance(timedelta(minutes=20))
        for project in ("de-a", "de-b", "fr-a", "de-b"):
            submit(project, estimate_s=3_600)
        dispatcher.cycle()  # preempts, starts; the last record
    finally:
        dispatcher.close()
    platform.log.drain()


def _comparable(result: SimResult) -> dict[str, Any]:
    timing = {"wall_s", "sim_events_per_s"}
    return {
        "metrics": {k: v for k, v in result.metrics.items() if k not in timing},
        "jct_s": result.jct_s,
        "shares": result.shares,
    }


def _same_state(db: FacilityState, log: FacilityState) -> None:
    assert log.queue == db.queue
    assert log.start.running == db.start.running
    assert log.shares == db.shares
    assert log.start.history.by_user == pytest.approx(db.start.history.by_user, rel=1e-9)
    for field in ("node_ids", "node_cap", "node_pool", "node_up", "node_unit", "pools"):
        assert getattr(log.topology, field) == getattr(db.topology, field), field


def test_the_log_and_the_database_start_the_twin_from_the_same_state(
    platform: Platform, clock: FrozenClock, tmp_path: Path, live_server: LiveServer
) -> None:
    _facility(platform, clock, tmp_path)
    db = read_state(platform, clock.now())  # the moment of the last record: nothing changed since
    assert platform.log.signer is not None
    log = read_log(f"{live_server.url}/log", log_keys(platform.log.signer.vkey, [], None))
    assert len(db.start.running) == 5  # the nodes full
    assert db.queue  # work waiting
    assert {t.job.priority_class for t in db.queue} == {PriorityClass.PREEMPTIBLE}  # preempted: wait again
    assert ("DE", "de-a", "ana") in db.start.history.by_user  # the finished job
    assert {k for k in db.start.history.by_user if k[0] == "FR"}  # the preempted attempts' use
    _same_state(db, log)
    for members in (None, {"DE": 1.0, "FR": 9.0}):
        [from_db] = simulate_state(db, ["full"], days=1.0, failures=NO_FAILURES, members=members)
        [from_log] = simulate_state(log, ["full"], days=1.0, failures=NO_FAILURES, members=members)
        assert _comparable(from_log) == _comparable(from_db)
        assert from_db.metrics["jobs_completed"] == 9  # the real queue and running jobs, to their estimates


def _entries(platform: Platform) -> Entries:
    size = platform.log.size()
    found = [
        e for start in range(0, size, 1000) for e in platform.log.entries(start, min(1000, size - start))
    ]
    return [(i, json.loads(e.data)) for i, e in enumerate(found)]


def test_a_record_that_does_not_replay_is_refused_at_its_index(
    platform: Platform, clock: FrozenClock, tmp_path: Path
) -> None:
    _facility(platform, clock, tmp_path)
    entries = _entries(platform)
    records = [i for i, e in entries if e["type"] == CYCLE]
    assert len(records) == 3
    _topology, inputs = last_state(entries, {scheduler_version()})
    assert inputs.now == clock.now().timestamp()
    gap = [pair for pair in entries if pair[0] != records[1]]
    with pytest.raises(IntegrityFailure) as refused:
        last_state(gap, {scheduler_version()})
    assert "is dispatched, but the decision record before it" in refused.value.message  # first, by index
    assert f"(index {records[0]})" in refused.value.message
    with pytest.raises(IntegrityFailure) as unknown:
        last_state(entries, {"sha256:another"})
    assert f"index {records[0]}" in unknown.value.message


def test_a_log_without_a_decision_record_is_refused(platform: Platform, live_server: LiveServer) -> None:
    platform.member_states.admit(code="DE", name="Germany", contribution_minor_units=1, population=1)
    platform.log.drain()
    assert platform.log.signer is not None
    with pytest.raises(NotFound) as refused:
        read_log(f"{live_server.url}/log", log_keys(platform.log.signer.vkey, [], None))
    assert "no decision record" in refused.value.message


def _pnyx(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PNYX_")} | {"PNYX_DATA_DIR": str(home)}
    pnyx = str(Path(sys.executable).with_name("pnyx"))
    return subprocess.run([pnyx, *args], env=clean, capture_output=True, text=True, timeout=120, check=False)


def test_the_command_runs_from_a_log_and_refuses_bad_ones(
    platform: Platform, clock: FrozenClock, tmp_path: Path, live_server: LiveServer
) -> None:
    _facility(platform, clock, tmp_path)
    assert platform.log.signer is not None
    url, key, out = f"{live_server.url}/log", platform.log.signer.vkey, str(tmp_path / "o")
    base = ("simulate", "--policy", "full", "--days", "0.5", "--no-failures", "--out", out)
    done = _pnyx(*base, "--from-log", url, "--key", key, "--shares", "DE=1,FR=1", home=tmp_path / "h")
    assert done.returncode == 0, done.stderr
    assert "utilization" in done.stdout
    assert json.loads((tmp_path / "o" / "metrics.json").read_text())
    _other, wrong = generate_signer("test.pnyx.example/log")
    _refused(_pnyx(*base, "--from-log", url, "--key", wrong, home=tmp_path / "h"), 3, "signature")
    gone = _pnyx(*base, "--from-log", "http://127.0.0.1:9/log", "--key", key, home=tmp_path / "h")
    _refused(gone, 6, "unreachable")
    nowhere = _pnyx(*base, "--from-log", str(tmp_path / "none"), "--key", key, home=tmp_path / "h")
    _refused(nowhere, 2, "--from-log wants")
    _refused(_pnyx(*base, "--from-log", url, home=tmp_path / "h"), 2, "give --key")


def _refused(result: subprocess.CompletedProcess[str], code: int, words: str) -> None:
    assert result.returncode == code, result.stderr
    assert words in result.stderr
    assert "Traceback" not in result.stderr


def test_a_tampered_log_is_refused_at_its_index(
    platform: Platform, clock: FrozenClock, tmp_path: Path, live_server: LiveServer
) -> None:
    from pnyx.transparency.store import log_entries

    _facility(platform, clock, tmp_path)
    last = max(i for i, e in _entries(platform) if e["type"] == CYCLE)
    with platform.engine.begin() as conn:
        conn.execute(log_entries.update().where(log_entries.c.idx == last).values(data=b'{"forged":true}'))
    assert platform.log.signer is not None
    with pytest.raises(FacilityError) as refused:
        read_log(f"{live_server.url}/log", log_keys(platform.log.signer.vkey, [], None))
    assert f"index {last}" in refused.value.message
