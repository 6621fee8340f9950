"""A queue kept from cycle to cycle (``KeptQueue``: changed by the jobs that left and came) reads as
the queue built afresh from each cycle's jobs (``Queue(jobs)``): the same jobs in submit order, the
same groups with the same jobs in the same order; only the order of the groups may differ, and the
scheduler's fair order sorts them whole. Cycles drop jobs (started, rejected, cancelled), bring new
ones and requeued ones (an earlier submit time), change a job's object (its project moved: another
group), repeat ids (built afresh then), and read the queue or not in between."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from pnyx.scheduler.fairshare import Shares, Usage, order_groups
from pnyx.scheduler.model import Job
from pnyx.scheduler.queue import KeptQueue, Queue
from tests.unit.scheduler.test_queue_fill import _job

_SPEC = st.tuples(st.integers(0, 15), st.integers(0, 6), st.integers(0, 3), st.booleans())
_CYCLES = st.lists(st.tuples(st.lists(_SPEC, max_size=30), st.booleans()), min_size=1, max_size=8)


def _jobs(specs: list[tuple[int, int, int, bool]], made: dict[tuple[int, int, int], Job]) -> list[Job]:
    """Each cycle's jobs; the same (id, submit, project) is the very same object from cycle to cycle
    (as production's kept views hand them over), a changed one a new object."""
    out: list[Job] = []
    for i, submit, project, urgent in specs:
        key = (i, submit, project)
        job = made.get(key)
        if job is None or urgent:  # ``urgent``: a new object for the same values
            job = made[key] = _job(i, submit, project)
        out.append(job)
    return out


def _read(queue: Queue) -> tuple[object, ...]:
    groups = queue.groups()
    ordered = order_groups(groups, Shares(members={"DE": 1.0}), Usage())
    return (
        len(queue),
        [(j.id, j) for j in queue.in_submit_order()],
        [(g, [(i, j) for i, j in groups[g].items()]) for g in ordered],
        sorted(groups, key=repr) == sorted(ordered, key=repr),
    )


@settings(max_examples=400, deadline=None)
@given(_CYCLES)
def test_a_kept_queue_reads_as_the_queue_built_afresh_every_cycle(
    cycles: list[tuple[list[tuple[int, int, int, bool]], bool]],
) -> None:
    kept, made = KeptQueue(), dict[tuple[int, int, int], Job]()
    for specs, looked in cycles:
        jobs = _jobs(specs, made)
        queue = kept.of(jobs)
        if looked:  # a cycle that reads it (sorting what was flagged) before the next one changes it
            assert _read(queue) == _read(Queue(jobs))
    last = _jobs(cycles[-1][0], made)
    assert _read(kept.of(last)) == _read(Queue(last))
