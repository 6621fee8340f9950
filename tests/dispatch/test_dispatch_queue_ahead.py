"""Queue-ahead (scheduler.ahead, dispatch.plan): an engine with its own queue gets the next layer of
jobs pinned to nodes still busy, so it starts them the moment those nodes free up; never more than two
deep on a node, never for an engine that does not queue, and a preemption takes back what was queued
ahead on the victim's nodes. Over the queueing in-memory engine; on SQLite and PostgreSQL."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from pnyx.core.clock import FrozenClock
from pnyx.dispatch.handover import MAX_STARTS
from pnyx.dispatch.plan import QueueAhead
from pnyx.jobs.model import JobStatus
from pnyx.jobs.service import Submission
from pnyx.scheduler.model import PriorityClass
from pnyx.wiring import Platform
from tests.dispatch.conftest import ADA
from tests.dispatch.test_dispatch_states import QueueRig, make_queue_rig


def rig(
    platform: Platform, clock: FrozenClock, tmp_path: Path, ahead: frozenset[str], depth: int = 2
) -> QueueRig:
    ahead_of = QueueAhead(engines=ahead, depth=depth)
    return make_queue_rig(platform, clock, tmp_path, max_starts=MAX_STARTS, queue_ahead=ahead_of)


@pytest.fixture
def ahead_rig(platform: Platform, clock: FrozenClock, tmp_path: Path) -> Iterator[QueueRig]:
    r = rig(platform, clock, tmp_path, frozenset({"fake"}))
    yield r
    r.dispatcher.close()


def submit(r: QueueRig, priority: PriorityClass = PriorityClass.ENTITLED) -> str:
    s = Submission(
        name="q", project="open-llm", accelerators=8, estimate_s=600, command=("t",), priority_class=priority
    )
    return r.jobs.submit(ADA, s).id


def per_node(r: QueueRig, ids: list[str]) -> Counter[str]:
    """Jobs handed over (queued or running) on each node."""
    held = [r.get(j) for j in ids]
    return Counter(n for j in held if j.status in (JobStatus.QUEUED, JobStatus.RUNNING) for n in j.node_ids)


def test_the_engine_gets_two_layers_and_no_more(ahead_rig: QueueRig) -> None:
    ids = [submit(ahead_rig) for _ in range(6)]  # a whole node each: three per node
    ahead_rig.dispatcher.cycle()
    assert per_node(ahead_rig, ids) == {"n1": 2, "n2": 2}
    assert sum(ahead_rig.get(j).status is JobStatus.PENDING for j in ids) == 2
    ahead_rig.dispatcher.cycle()  # nothing ran: nothing more is handed over
    assert per_node(ahead_rig, ids) == {"n1": 2, "n2": 2}


def test_when_the_first_layer_ends_the_waiting_ones_move_up(ahead_rig: QueueRig) -> None:
    ids = [submit(ahead_rig) for _ in range(6)]
    ahead_rig.dispatcher.cycle()
    first = [ahead_rig.get(j) for j in ids if ahead_rig.get(j).status is JobStatus.QUEUED]
    by_node = {j.node_ids[0]: j for j in first}  # one job per node (the earliest handed)
    for job in by_node.values():
        ahead_rig.engine.run(job.idempotency_key, ahead_rig.clock.now())
        ahead_rig.engine.finish(job.idempotency_key)
    ahead_rig.dispatcher.cycle()
    assert per_node(ahead_rig, ids) == {"n1": 2, "n2": 2}  # the last two are queued ahead now
    assert all(ahead_rig.get(j).status is not JobStatus.PENDING for j in ids)


def test_an_engine_that_does_not_queue_gets_only_what_fits(
    platform: Platform, clock: FrozenClock, tmp_path: Path
) -> None:
    r = rig(platform, clock, tmp_path, frozenset())
    ids = [submit(r) for _ in range(4)]
    r.dispatcher.cycle()
    assert per_node(r, ids) == {"n1": 1, "n2": 1}
    r.dispatcher.close()


def test_a_preemption_takes_back_what_was_queued_ahead_on_the_victims_node(ahead_rig: QueueRig) -> None:
    running = [submit(ahead_rig, PriorityClass.PREEMPTIBLE) for _ in range(2)]
    ahead_rig.dispatcher.cycle()
    for j in running:
        ahead_rig.engine.run(ahead_rig.get(j).idempotency_key, ahead_rig.clock.now())
    ahead_rig.dispatcher.cycle()
    queued = [submit(ahead_rig, PriorityClass.PREEMPTIBLE) for _ in range(2)]
    ahead_rig.dispatcher.cycle()
    assert {ahead_rig.get(j).status for j in queued} == {JobStatus.QUEUED}  # ahead, on both nodes

    urgent = submit(ahead_rig, PriorityClass.ENTITLED)
    ahead_rig.dispatcher.cycle()
    placed = ahead_rig.get(urgent)
    assert placed.status is JobStatus.QUEUED
    (node,) = placed.node_ids
    displaced = [j for j in queued if ahead_rig.get(j).status is JobStatus.PENDING]
    assert len(displaced) == 1
    assert ahead_rig.get(displaced[0]).attempt == 1  # a new attempt: the engine's copy was cancelled
    (victim,) = [ahead_rig.get(j) for j in running if ahead_rig.get(j).status is JobStatus.PENDING]
    assert victim.attempt == 1  # requeued as a new attempt
    live = [ahead_rig.get(j) for j in running + queued + [urgent]]
    on_node = [j for j in live if j.status in (JobStatus.QUEUED, JobStatus.RUNNING) and node in j.node_ids]
    assert [j.id for j in on_node if j.id != urgent] == []  # the preemptor has the node to itself


def test_the_engines_depths_make_one_queue_ahead() -> None:
    assert QueueAhead.of({"slurm": 4, "ray": 1, "local": 1}) == QueueAhead(
        engines=frozenset({"slurm"}), depth=4
    )
    assert QueueAhead.of({"ray": 1}) == QueueAhead(engines=frozenset(), depth=1)


def test_a_third_layer_queues_one_more_job_per_node(
    platform: Platform, clock: FrozenClock, tmp_path: Path
) -> None:
    r = rig(platform, clock, tmp_path, frozenset({"fake"}), depth=3)
    ids = [submit(r) for _ in range(8)]
    r.dispatcher.cycle()
    assert per_node(r, ids) == {"n1": 3, "n2": 3}
    r.dispatcher.close()
