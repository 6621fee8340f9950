"""A queue built at once (``Queue(jobs)``, a cycle's) is the queue ``add`` builds job by job: the
same jobs, groups, orders and sort marks, whatever the submit times, groups and repeated ids."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from pnyx.scheduler.model import Job, PriorityClass
from pnyx.scheduler.queue import Queue


def _job(i: int, submit: int, project: int) -> Job:
    return Job(
        id=f"j{i}",
        member="DE",
        project=f"p{project}",
        user="ada",
        accelerators=8,
        estimate_s=3_600.0,
        submit_s=float(submit),
        priority_class=PriorityClass.ENTITLED,
    )


def _one_by_one(jobs: list[Job]) -> Queue:
    queue = Queue()
    for job in jobs:
        queue.add(job)
    return queue


def _state(queue: Queue) -> tuple[object, ...]:
    return (
        list(queue._jobs.items()),
        {g: list(jobs.items()) for g, jobs in queue._groups.items()},
        list(queue._groups),
        set(queue._unsorted),
    )


_JOBS = st.lists(st.tuples(st.integers(0, 12), st.integers(0, 5), st.integers(0, 3)), max_size=40)


@settings(max_examples=300, deadline=None)
@given(_JOBS)
def test_a_queue_built_at_once_is_the_queue_built_job_by_job(specs: list[tuple[int, int, int]]) -> None:
    jobs = [_job(i, submit, project) for i, submit, project in specs]  # ids repeat now and then
    at_once, one_by_one = Queue(jobs), _one_by_one(jobs)
    assert _state(at_once) == _state(one_by_one)
    assert list(at_once.in_submit_order()) == list(one_by_one.in_submit_order())
    assert {g: list(j) for g, j in at_once.groups().items()} == {
        g: list(j) for g, j in one_by_one.groups().items()
    }
