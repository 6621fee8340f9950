"""``pnyx simulate --from-db``: the twin starts from the facility's own state (inventory, shares in
force, queue, running jobs, usage history) and answers "what if the shares change" of that queue."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from pnyx.cli.sim_state import parse_shares, read_state, simulate_state
from pnyx.core.clock import FrozenClock
from pnyx.core.errors import InvalidInput
from pnyx.core.ids import UserId
from pnyx.dispatch.leadership import FileLeadership
from pnyx.dispatch.loop import Dispatcher
from pnyx.executors.fake import FakeExecutor
from pnyx.identity.model import LOCAL_CONSOLE, Principal, Role
from pnyx.jobs.service import JobService, ProjectInfo, Submission
from pnyx.jobs.topology import fit_check
from pnyx.scheduler.policy import policy_named
from pnyx.sim.failures import NO_FAILURES
from pnyx.wiring import Platform

ANA = Principal(user_id=UserId("usr_ana"), name="ana", roles=frozenset({Role.RESEARCHER}))


class StateProjects:
    def project(self, project_id: str) -> ProjectInfo | None:
        state = project_id.split("-", maxsplit=1)[0].upper()
        return ProjectInfo(id=project_id, member_state=state, members=frozenset(), over_budget=False)


def _facility(platform: Platform, clock: FrozenClock, tmp_path: Path) -> list[str]:
    """Five H100 nodes; DE ran a job to the end, six jobs hold the nodes, three wait."""
    platform.member_states.admit(code="DE", name="Germany", contribution_minor_units=500, population=84)
    platform.member_states.admit(code="FR", name="France", contribution_minor_units=500, population=68)
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
        shares=platform.policies.member_shares,
        clock=clock,
        policy=policy_named("full"),
        leadership=FileLeadership(tmp_path / "lock"),
        usage=platform.accounting,
    )

    def submit(project: str) -> str:
        wanted = Submission(
            name=project,
            project=project,
            accelerators=8,
            estimate_s=7_200,
            accelerator_type="H100-SXM",
            command=("train",),
            engine="fake",
        )
        return jobs.submit(ANA, wanted).id

    try:
        first = submit("de-a")
        dispatcher.cycle()
        clock.advance(timedelta(hours=1))
        fake.finish(jobs.get(LOCAL_CONSOLE, first).idempotency_key)
        ids = [submit(p) for p in ("de-a", "de-b", "fr-a", "fr-b", "fr-c", "de-a", "fr-a", "de-b")]
        dispatcher.cycle()
        clock.advance(timedelta(minutes=10))
    finally:
        dispatcher.leadership.release()
    return ids


def test_the_twin_starts_from_the_facility_state(
    platform: Platform, clock: FrozenClock, tmp_path: Path
) -> None:
    _facility(platform, clock, tmp_path)
    state = read_state(platform, clock.now())
    assert len(state.start.running) == 5  # five H100 nodes, one job each
    assert len(state.queue) == 3
    assert all(t.job.submit_s <= 0 for t in state.queue)  # already waiting at the twin's time 0
    assert all(ran.start_s == -600.0 and left == 6_600.0 for ran, left in state.start.running)
    assert state.start.history.by_user == pytest.approx({("DE", "de-a", "ana"): 28_800.0}, rel=0.01)
    assert state.shares.members == {"DE": 0.5, "FR": 0.5}

    [now] = simulate_state(state, ["full"], days=1.0, failures=NO_FAILURES)
    assert now.metrics["jobs_completed"] == 8  # the real queue and running jobs, run to their estimates
    [tilted] = simulate_state(state, ["full"], days=1.0, failures=NO_FAILURES, members={"DE": 9, "FR": 1})
    assert tilted.shares["DE"][1] == pytest.approx(0.9)  # entitlement asked about
    assert tilted.metrics["jobs_completed"] == 8


def test_shares_to_try_are_read_or_refused() -> None:
    assert parse_shares("de=3, FR=1") == {"DE": 3.0, "FR": 1.0}
    for bad in ("DE", "DE=x", "DE=-1", "=2", "DE=0"):
        with pytest.raises(InvalidInput) as refused:
            parse_shares(bad)
        assert refused.value.field == "shares"


def test_the_command_runs_from_a_database(tmp_path: Path) -> None:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PNYX_")} | {
        "PNYX_DATA_DIR": str(tmp_path)
    }
    pnyx = str(Path(sys.executable).with_name("pnyx"))

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [pnyx, *args], env=clean, capture_output=True, text=True, timeout=120, check=False
        )

    assert run("db", "upgrade").returncode == 0
    assert run("inventory", "generate", "-n", "96").returncode == 0
    done = run(
        "simulate",
        "--from-db",
        "--policy",
        "full",
        "--days",
        "0.5",
        "--shares",
        "DE=1",
        "--out",
        str(tmp_path / "o"),
    )
    assert done.returncode == 0, done.stderr
    assert "utilization" in done.stdout
    assert (tmp_path / "o" / "metrics.json").exists()
    refused = run("simulate", "--shares", "DE=1", "--out", str(tmp_path / "o"))
    assert refused.returncode == 2
    assert "give --from-db or --from-log too" in refused.stderr
