"""plan() over stored jobs (pure): what it gives the scheduler is what its record holds, and a job
whose nodes left the inventory is reported and left out while everyone else is scheduled."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pnyx.dispatch.plan import PlanInputs, plan
from pnyx.jobs.model import JobRecord, JobStatus
from pnyx.safety.model import Label, SafetyLevel
from pnyx.scheduler.fairshare import Shares, Usage
from pnyx.scheduler.model import PriorityClass
from pnyx.scheduler.policy import policy_named
from tests.dispatch.test_dispatch_states import two_nodes

WHEN = datetime(2026, 11, 25, 9, tzinfo=UTC)


def _job(job_id: str, status: JobStatus, nodes: tuple[str, ...] = ()) -> JobRecord:
    started = WHEN if status is JobStatus.RUNNING else None
    return JobRecord(
        id=job_id, name="train", project="p1", user="ada", engine="fake", accelerator_type="H100-SXM",
        accelerators=8, estimate_s=3_600, checkpoint_s=0, priority_class=PriorityClass.ENTITLED,
        label=Label(level=SafetyLevel.L1), status=status, submitted_at=WHEN, member_state="DE",
        node_ids=nodes, counts=(8,) * len(nodes), placed_type="H100-SXM" if nodes else None,
        dispatched_at=started, started_at=started,
    )  # fmt: skip


def _inputs(*active: JobRecord) -> PlanInputs:
    return PlanInputs(
        topology=two_nodes(),
        active=active,
        now=WHEN + timedelta(minutes=5),
        shares=Shares(members={"DE": 1.0}),
        history=Usage(),
        policy=policy_named("full"),
    )


def test_a_job_whose_nodes_left_is_reported_and_the_rest_scheduled() -> None:
    held, gone = _job("held", JobStatus.RUNNING, ("n1",)), _job("gone", JobStatus.RUNNING, ("n9",))
    decided = plan(_inputs(gone, held, _job("waits", JobStatus.PENDING)))
    assert [e.split(" (")[0] for e in decided.errors] == ["job gone: its nodes are not in the inventory"]
    assert [(p.job_id, p.node_ids) for p in decided.decisions.starts] == [("waits", ("n2",))]
    assert [h.running.job.id for h in decided.decided_on.holding] == ["held"]
    assert decided.decided_on.order == ("held",)
    assert [j.id for j in decided.decided_on.queue] == ["waits"]
    assert decided.decided_on.now == (WHEN + timedelta(minutes=5)).timestamp()
