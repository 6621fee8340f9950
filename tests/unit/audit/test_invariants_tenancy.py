"""Co-tenancy kept from record to record (``invariants.Tenancy``) against the check from scratch
(``invariants.co_tenancy``): it says "may be broken" wherever the check finds a breach, records after
records of holders that come, go, change and are preempted, and starts that join them."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from pnyx.audit import invariants
from pnyx.audit.wire import Held, Json, held_out, placement_out, queued_out
from pnyx.inventory.rules import generate_facility
from pnyx.safety.model import SafetyLevel
from pnyx.scheduler.model import Job, Placement, Running
from pnyx.scheduler.topology import build_topology

_TOPOLOGY = build_topology(generate_facility(512, seed=0))
SIZE = len(_TOPOLOGY.node_cap)
# a job: (first node, width, project, L2 or not, started); nodes past the topology's end too
JOB = st.tuples(st.integers(0, SIZE + 2), st.integers(1, 3), st.integers(0, 2), st.booleans(), st.booleans())
# a record: which jobs hold (index, placed anew), which are preempted, which start
RECORD = st.tuples(
    st.lists(st.tuples(st.integers(0, 19), st.booleans()), max_size=20),
    st.lists(st.integers(0, 19), max_size=3),
    st.lists(st.integers(20, 29), max_size=3),
)


def placement(i: int, shape: tuple[int, int, int, bool, bool], again: bool) -> Placement:
    first, width = shape[0], shape[1]
    nodes = tuple(dict.fromkeys(first + k * (3 if again else 1) for k in range(width)))
    return Placement(job_id=f"j{i}", accelerator_type="x", node_ids=tuple(str(n) for n in nodes),
                     counts=(1,) * len(nodes), nodes=nodes, pool=0, exclusive=shape[3])  # fmt: skip


def job(i: int, shape: tuple[int, int, int, bool, bool]) -> Job:
    label = SafetyLevel.L2 if shape[3] else SafetyLevel.L1
    return Job(id=f"j{i}", accelerators=shape[1], estimate_s=60.0, project=f"p{shape[2]}", label=label)


def holder(i: int, shape: tuple[int, int, int, bool, bool], again: bool) -> list[Json]:
    run = Running(job=job(i, shape), placement=placement(i, shape, again), start_s=0.0, end_s=60.0)
    return held_out(Held(running=run, engine="e", started=shape[4], handed_s=0.0))


@settings(deadline=None, max_examples=80)
@given(st.lists(JOB, min_size=30, max_size=30), st.lists(RECORD, min_size=1, max_size=6))
def test_tenancy_may_be_broken_wherever_the_check_from_scratch_finds_a_breach(
    jobs: list[tuple[int, int, int, bool, bool]],
    records: list[tuple[list[tuple[int, bool]], list[int], list[int]]],
) -> None:
    tenancy = invariants.Tenancy(_TOPOLOGY)
    rows: dict[str, list[Json]] = {}
    for chosen, preempted, starting in records:
        holding: dict[str, list[Json]] = {}
        for i, again in chosen:  # a row kept while unchanged, as the replay's ledger keeps it
            row = holder(i, jobs[i], again)
            holding[row[0]] = rows[row[0]] if rows.get(row[0]) == row else row
        rows = holding
        queue = {f"j{i}": queued_out(job(i, jobs[i]), "e") for i in starting}
        outputs = {
            "preemptions": [[f"j{i}", "x", 0.0] for i in preempted],
            "starts": [placement_out(placement(i, jobs[i], False)) for i in starting],
        }
        breaches = invariants.co_tenancy(_TOPOLOGY, invariants._occupants(queue, holding, outputs))
        may = tenancy.may_break(queue, holding, outputs)
        assert may or not breaches
        holding_only = invariants.co_tenancy(_TOPOLOGY, invariants._occupants({}, holding, {}))
        assert bool(tenancy.suspect) == bool(holding_only)
