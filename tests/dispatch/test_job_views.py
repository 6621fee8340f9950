"""The scheduler's views kept from cycle to cycle (``dispatch.views``) are a cache, never a source:
over any sequence of cycles, records changed, replaced, gone or new, the topology swapped and the
clock moving, a plan given a warm ``JobViews`` is handed exactly what a plan building every view
afresh is handed, and decides the same."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from pnyx.dispatch.plan import PlanInputs, cycle_inputs, plan
from pnyx.dispatch.views import JobViews
from pnyx.jobs.model import JobRecord, JobStatus
from pnyx.scheduler.fairshare import Shares, Usage
from pnyx.scheduler.policy import policy_named
from pnyx.scheduler.topology import Topology
from tests.dispatch.test_dispatch_states import two_nodes
from tests.dispatch.test_plan_inputs import WHEN, _job


def _inputs(active: tuple[JobRecord, ...], views: JobViews | None, topology: Topology, at: int) -> PlanInputs:
    return PlanInputs(
        topology=topology,
        active=active,
        now=WHEN + timedelta(minutes=at),
        shares=Shares(members={"DE": 1.0}),
        history=Usage(),
        policy=policy_named("full"),
        views=views,
    )


def test_a_kept_record_keeps_its_views_and_a_replaced_one_gets_new_ones() -> None:
    views, topology = JobViews(), two_nodes()
    waits, runs = _job("waits", JobStatus.PENDING), _job("runs", JobStatus.RUNNING, ("n1",))
    first, _ = cycle_inputs(_inputs((waits, runs), views, topology, 1))
    again, _ = cycle_inputs(_inputs((waits, runs), views, topology, 2))
    assert again.queue[0] is first.queue[0]
    assert again.holding[0] is first.holding[0]
    moved = dataclasses.replace(runs, started_at=WHEN + timedelta(seconds=30))
    third, _ = cycle_inputs(_inputs((waits, moved), views, topology, 3))
    assert third.holding[0] is not first.holding[0]
    assert third.holding[0].running.start_s == (WHEN + timedelta(seconds=30)).timestamp()


def test_a_new_topology_builds_the_holding_views_again() -> None:
    views, runs = JobViews(), _job("runs", JobStatus.RUNNING, ("n1",))
    first, _ = cycle_inputs(_inputs((runs,), views, two_nodes(), 1))
    again, _ = cycle_inputs(_inputs((runs,), views, two_nodes(), 1))
    assert again.holding[0] is not first.holding[0]
    assert again.holding == first.holding


def test_a_job_timed_by_the_clock_alone_is_timed_by_each_cycle() -> None:
    views, topology = JobViews(), two_nodes()
    untimed = dataclasses.replace(
        _job("runs", JobStatus.RUNNING, ("n1",)), started_at=None, dispatched_at=None
    )
    first, _ = cycle_inputs(_inputs((untimed,), views, topology, 1))
    later, _ = cycle_inputs(_inputs((untimed,), views, topology, 7))
    assert later.holding[0].running.start_s - first.holding[0].running.start_s == 360


def test_a_job_whose_nodes_left_is_reported_each_cycle() -> None:
    views, topology = JobViews(), two_nodes()
    gone = _job("gone", JobStatus.RUNNING, ("n9",))
    for at in (1, 2):
        decided = plan(_inputs((gone,), views, topology, at))
        assert [e.split(" (")[0] for e in decided.errors] == ["job gone: its nodes are not in the inventory"]


_CHANGES = st.sampled_from(["keep", "copy", "start", "place", "drop", "topology", "untime"])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(_CHANGES, min_size=4, max_size=4), min_size=1, max_size=6))
def test_warm_views_hand_the_scheduler_what_fresh_ones_do(cycles: list[list[str]]) -> None:
    views, topology = JobViews(), two_nodes()
    jobs: list[JobRecord | None] = [_job(f"j{i}", JobStatus.PENDING) for i in range(4)]
    for at, changes in enumerate(cycles, start=1):
        for i, change in enumerate(changes):
            jobs[i] = _changed(jobs[i], change, i)
            topology = two_nodes() if change == "topology" else topology
        active = tuple(j for j in jobs if j is not None)
        warm, cold = plan(_inputs(active, views, topology, at)), plan(_inputs(active, None, topology, at))
        assert warm == cold


def _changed(job: JobRecord | None, change: str, i: int) -> JobRecord | None:
    if job is None:
        return _job(f"j{i}", JobStatus.PENDING) if change == "place" else None
    node = ("n1",) if i % 2 == 0 else ("n2",)
    return {
        "keep": job,
        "copy": dataclasses.replace(job),
        "start": _job(job.id, JobStatus.RUNNING, node),
        "place": dataclasses.replace(_job(job.id, JobStatus.DISPATCHING, node), dispatched_at=WHEN),
        "drop": None,
        "topology": job,
        "untime": dataclasses.replace(job, started_at=None, dispatched_at=None),
    }[change]
