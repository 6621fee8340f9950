"""The capacity a dispatcher carries from plan to plan (``dispatch.plan.Carrier``) is a cache, never a
source: over any sequence of cycles (jobs started, handed over, dropped, the topology swapped) a plan
given the carrier decides exactly what a plan building its ledger from blank decides; a plan that
raised leaves nothing half-changed to the next."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import pnyx.dispatch.plan as plan_module
from pnyx.dispatch.plan import Carrier, PlanInputs, plan
from pnyx.dispatch.views import JobViews
from pnyx.jobs.model import JobRecord, JobStatus
from pnyx.scheduler.capacity import Capacity, blank_of
from pnyx.scheduler.topology import Topology
from tests.dispatch.test_dispatch_states import two_nodes
from tests.dispatch.test_job_views import _CHANGES, _changed, _inputs
from tests.dispatch.test_plan_inputs import _job


def _carried(
    active: tuple[JobRecord, ...], carrier: Carrier, blank: Capacity, topology: Topology, at: int
) -> PlanInputs:
    cold = _inputs(active, JobViews(), topology, at)
    return PlanInputs(
        topology=cold.topology,
        active=cold.active,
        now=cold.now,
        shares=cold.shares,
        history=cold.history,
        policy=cold.policy,
        blank=blank,
        carrier=carrier,
    )


@settings(max_examples=80, deadline=None)
@given(st.lists(st.lists(_CHANGES, min_size=4, max_size=4), min_size=1, max_size=8))
def test_a_carried_ledger_decides_what_a_built_one_does(cycles: list[list[str]]) -> None:
    carrier, topology = Carrier(), two_nodes()
    blank = blank_of(topology)
    jobs: list[JobRecord | None] = [_job(f"j{i}", JobStatus.PENDING) for i in range(4)]
    for at, changes in enumerate(cycles, start=1):
        for i, change in enumerate(changes):
            jobs[i] = _changed(jobs[i], change, i)
            if change == "topology":
                topology = two_nodes()
                blank = blank_of(topology)
        active = tuple(j for j in jobs if j is not None)
        carried = plan(_carried(active, carrier, blank, topology, at))
        built = plan(_inputs(active, None, topology, at))
        assert carried == built


def test_the_carrier_keeps_its_ledger_for_the_same_blank_only() -> None:
    carrier, topology = Carrier(), two_nodes()
    blank = blank_of(topology)
    running = (_job("runs", JobStatus.RUNNING, ("n1",)), _job("waits", JobStatus.PENDING))
    plan(_carried(running, carrier, blank, topology, 1))
    kept = carrier.lend(blank)
    assert kept.placed.keys() == {"runs"}  # the ledger of the job holding accelerators, carried
    carrier.keep(kept)
    assert carrier.lend(blank_of(topology)) is not kept  # another blank: a new ledger


def test_a_plan_that_raised_leaves_no_ledger_to_the_next(monkeypatch: pytest.MonkeyPatch) -> None:
    carrier, topology = Carrier(), two_nodes()
    blank = blank_of(topology)
    running = (_job("runs", JobStatus.RUNNING, ("n1",)),)
    plan(_carried(running, carrier, blank, topology, 1))
    lent = carrier.lend(blank)
    carrier.keep(lent)

    def broken(*_args: object, **_kwargs: object) -> object:
        raise RuntimeError("the scheduler broke mid-way")

    monkeypatch.setattr(plan_module, "decide", broken)
    with pytest.raises(RuntimeError):
        plan(_carried(running, carrier, blank, topology, 2))
    assert carrier.lend(blank) is not lent
