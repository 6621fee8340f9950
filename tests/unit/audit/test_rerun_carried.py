"""``rerun.decide`` with a carried capacity (kept from cycle to cycle, as the replay keeps it) against
``decide`` building each snapshot from blank (as production does): the same outputs, cycle after
cycle, over a small facility run by its own decisions (starts, finishes, preemptions, failed nodes)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from pnyx.audit.rerun import decide
from pnyx.audit.wire import CycleInputs, CycleOutputs, Held, outputs_out
from pnyx.inventory.rules import generate_facility
from pnyx.safety.model import SafetyLevel
from pnyx.scheduler.capacity import Capacity
from pnyx.scheduler.carried import CarriedCapacity
from pnyx.scheduler.fairshare import Shares
from pnyx.scheduler.model import Job, PriorityClass, Running
from pnyx.scheduler.policy import policy_named
from pnyx.scheduler.topology import build_topology

_TOPOLOGY = build_topology(generate_facility(512, seed=0))
_BLANK = Capacity(_TOPOLOGY)
SHARES = Shares(members={"DE": 2.0, "FR": 1.0})
CLASSES = list(PriorityClass)
# a job: (accelerators, hours, submit slot: few, so that times tie, L2 or not, class, member)
JOB = st.tuples(
    st.integers(1, 40), st.integers(1, 6), st.integers(0, 3), st.booleans(), st.integers(0, 2), st.booleans()
)


def job(i: int, shape: tuple[int, int, int, bool, int, bool]) -> Job:
    accelerators, hours, submit, l2, klass, de = shape
    return Job(id=f"j{i:03}", accelerators=accelerators, estimate_s=hours * 3600.0,
               member="DE" if de else "FR", project=f"p{i % 3}", user=f"u{i % 5}",
               priority_class=CLASSES[klass], label=SafetyLevel.L2 if l2 else SafetyLevel.L1,
               submit_s=submit * 600.0)  # fmt: skip


def after(
    holding: list[Held], queue: list[Job], out: CycleOutputs, now: float
) -> tuple[list[Held], list[Job]]:
    """The cycle's decisions applied: starts hold, the preempted go back to the queue."""
    d = out.decisions
    gone = {p.job_id for p in d.preemptions} | {r.job_id for r in d.rejections}
    started = {p.job_id: p for p in d.starts}
    kept = [h for h in holding if h.running.job.id not in gone]
    back = [h.running.job for h in holding if h.running.job.id in gone and h.running.job.id not in started]
    for j in queue:
        if j.id in started:
            run = Running(job=j, placement=started[j.id], start_s=now, end_s=now + j.estimate_s)
            kept.append(Held(running=run, engine="sim", started=True, handed_s=now))
    return kept, [j for j in queue if j.id not in started and j.id not in gone] + back


@settings(deadline=None, max_examples=50)  # two decisions per cycle on a 512-accelerator facility
@given(st.lists(JOB, min_size=5, max_size=40), st.lists(st.lists(st.integers(0, 63), max_size=3), max_size=8))
def test_a_carried_capacity_decides_as_a_ledger_built_from_blank(
    shapes: list[tuple[int, int, int, bool, int, bool]], downs: list[list[int]]
) -> None:
    carried = CarriedCapacity(_BLANK)
    queue = [job(i, s) for i, s in enumerate(shapes)]
    holding: list[Held] = []
    policy = policy_named("full")
    for step, down in enumerate([*downs, []]):
        now = 1800.0 * (step + 1)
        holding = [h for h in holding if h.running.end_s > now]  # finished jobs leave
        up = [h for h in holding if not set(h.running.placement.nodes) & set(down)]
        engines = {j.id: "sim" for j in queue}
        inputs = CycleInputs(now=now, queue=tuple(queue), engines=engines, holding=tuple(up), shares=SHARES,
                             policy=policy, down=frozenset(down))  # fmt: skip
        fresh = decide(_TOPOLOGY, inputs, blank=_BLANK)
        kept = decide(_TOPOLOGY, inputs, carried=carried)
        assert outputs_out(kept) == outputs_out(fresh)
        holding, queue = after(up, queue, fresh, now)
