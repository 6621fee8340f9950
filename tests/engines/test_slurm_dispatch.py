"""The dispatch loop over the real Slurm (scripts/engines/up.sh), on SQLite and PostgreSQL: a job is
queued until Slurm runs it, with Slurm's start time, on the node Pnyx placed it on; at most one
listing of the controller's jobs a cycle; a key submitted before a crash is found, never submitted
twice."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from decimal import Decimal
from pathlib import Path

import pytest

from pnyx.core.clock import SystemClock
from pnyx.db.unit_of_work import UnitOfWork
from pnyx.dispatch.leadership import FileLeadership
from pnyx.dispatch.loop import Dispatcher
from pnyx.dispatch.records import grant_of, spec_of
from pnyx.executors.slurm import SlurmConfig, SlurmExecutor, job_name
from pnyx.inventory.model import Facility, Island, Node, Rack, Site
from pnyx.inventory.rules import accelerator_type
from pnyx.jobs.model import EngineRef, JobStatus
from pnyx.jobs.rules import to_scheduler_job
from pnyx.jobs.service import JobService, Submission
from pnyx.safety.model import SafetyLevel
from pnyx.scheduler.admission import check_fits
from pnyx.scheduler.policy import policy_named
from pnyx.scheduler.topology import Topology, build_topology
from pnyx.wiring import Platform
from tests.dispatch.conftest import ADA, FakeProjects
from tests.engines.counting import CountingTransport

pytestmark = [pytest.mark.engines, pytest.mark.slow, pytest.mark.xdist_group("slurm")]


def open_partition() -> Topology:
    """The test cluster's partition "open" as Pnyx's inventory: n1, n2, eight H100 each, L1."""
    site = Site(id="infratest", name="Infratest", member_state="DE", city="Here")
    island = Island(id="i1", site_id=site.id, accelerator_type="H100-SXM", safety_level=SafetyLevel.L1)
    nodes = tuple(
        Node(
            id=name,
            rack_id="r1",
            island_id=island.id,
            site_id=site.id,
            nvlink_domain=name,
            accelerator_type="H100-SXM",
            accelerators=8,
            safety_level=SafetyLevel.L1,
        )
        for name in ("n1", "n2")
    )
    facility = Facility(
        types=(accelerator_type("H100-SXM"),),
        sites=(site,),
        islands=(island,),
        racks=(Rack(id="r1", island_id=island.id),),
        nodes=nodes,
    )
    return build_topology(facility)


@dataclass(frozen=True)
class SlurmRig:
    jobs: JobService
    executor: SlurmExecutor
    transport: CountingTransport
    dispatcher: Dispatcher


@pytest.fixture
def rig(platform: Platform, slurm_config: SlurmConfig, tmp_path: Path) -> Iterator[SlurmRig]:
    topology = open_partition()
    transport = CountingTransport()
    config = replace(slurm_config, accounts={"open-llm": "public"}, gres_types={"H100-SXM": "h100"})
    executor = SlurmExecutor(config, transport=transport)
    jobs = JobService(
        UnitOfWork(engine=platform.engine, clock=SystemClock()),
        projects=FakeProjects(),
        fits=lambda record: check_fits(to_scheduler_job(record), topology),
        executors={"slurm": executor},
        default_engine="slurm",
    )
    dispatcher = Dispatcher(
        jobs=jobs,
        topology=lambda: topology,
        executors={"slurm": executor},
        shares=lambda _at: {"DE": Decimal(1)},
        clock=SystemClock(),
        policy=policy_named("full"),
        leadership=FileLeadership(tmp_path / "lock"),
    )
    yield SlurmRig(jobs=jobs, executor=executor, transport=transport, dispatcher=dispatcher)
    dispatcher.close()
    executor.close()


def _submit(jobs: JobService, accelerators: int, command: str) -> str:
    submission = Submission(
        name="t",
        project="open-llm",
        accelerators=accelerators,
        estimate_s=120,
        accelerator_type="H100-SXM",
        command=("bash", "-c", command),
    )
    return jobs.submit(ADA, submission).id


def test_the_dispatcher_hands_over_once_per_cycle_and_a_job_runs_only_when_slurm_runs_it(
    rig: SlurmRig,
) -> None:
    ids = [_submit(rig.jobs, 1, 'echo "on $SLURMD_NODENAME"; sleep 2') for _ in range(3)]
    gang = _submit(rig.jobs, 16, 'echo "rank on $SLURMD_NODENAME"')

    report = rig.dispatcher.cycle()
    assert report.submitted == report.started >= 3
    first = [rig.jobs.get(ADA, i) for i in ids]
    assert {j.status for j in first} == {JobStatus.QUEUED}  # Slurm has them; nobody said they run
    assert all(j.engine_job_id is not None and j.started_at is None for j in first)

    cycles, listings = 1, rig.transport.count("GET", "/jobs")
    while {rig.jobs.get(ADA, i).status for i in [*ids, gang]} != {JobStatus.COMPLETED}:
        assert cycles < 120, [rig.jobs.get(ADA, i) for i in [*ids, gang]]
        time.sleep(0.5)
        rig.dispatcher.cycle()
        cycles += 1
    assert rig.transport.count("GET", "/jobs") <= listings + cycles - 1  # at most one listing a cycle
    assert rig.transport.count("GET", "/associations") == 1  # the account, checked once
    assert rig.transport.count("GET", "/clusters") == 1  # the cluster it is on, once
    assert rig.transport.accounting() == 2  # and nothing else from slurmdbd

    for job in (rig.jobs.get(ADA, i) for i in ids):
        (record,) = [r for r in rig.executor.controller_jobs() if r.job_id == int(job.engine_job_id or 0)]
        assert record.start is not None
        assert job.dispatched_at is not None
        assert job.started_at == max(record.start, job.dispatched_at)  # Slurm's start (clamped), not ours
        assert (record.nodes,) == job.node_ids  # where Pnyx placed it
        ref = EngineRef(engine="slurm", engine_job_id=str(record.job_id))
        assert f"on {job.node_ids[0]}" in rig.executor.logs(ref)


def test_a_key_submitted_before_a_crash_is_found_never_submitted_twice(
    rig: SlurmRig, slurm_config: SlurmConfig
) -> None:
    job_id = _submit(rig.jobs, 1, "true")
    placed = rig.jobs.dispatch(job_id, node_ids=("n1",), counts=(1,), placed_type="H100-SXM")
    config = replace(slurm_config, accounts={"open-llm": "public"}, gres_types={"H100-SXM": "h100"})
    crashed = SlurmExecutor(config)  # the dead dispatcher submitted, then died before confirming
    try:
        ref = crashed.submit(spec_of(placed), grant_of(placed))
    finally:
        crashed.close()

    rig.dispatcher.cycle()

    assert rig.jobs.get(ADA, job_id).engine_job_id == ref.engine_job_id
    assert rig.transport.count("POST", "/job/submit") == 0
    assert [
        j.job_id for j in rig.executor.controller_jobs() if j.name == job_name(placed.idempotency_key)
    ] == [int(ref.engine_job_id)]
