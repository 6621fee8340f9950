"""``HeldView`` answers as the copy it stands for: after any sequence of reservations, starts and
preemptions on the ledger, its ``fits`` and ``free_in`` equal those of the ledger copied then with
every held node held (``Capacity.hold``), before its copy is built and after (the built copy then
changed with the ledger keeps the same counters as a copy built afresh)."""

from __future__ import annotations

import random
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pnyx.inventory.rules import generate_facility
from pnyx.safety.model import SafetyLevel
from pnyx.scheduler.bookkeeping import apply_decisions
from pnyx.scheduler.capacity import Capacity
from pnyx.scheduler.cycle import schedule
from pnyx.scheduler.fairshare import Shares, Usage
from pnyx.scheduler.held import HeldView
from pnyx.scheduler.model import Job, Placement, PriorityClass, Running
from pnyx.scheduler.policy import POLICIES, Backfill, Policy
from pnyx.scheduler.queue import Queue
from pnyx.scheduler.snapshot import Snapshot
from pnyx.scheduler.topology import FACILITY, build_topology

_TOPOLOGY = build_topology(generate_facility(2048, seed=1))
SIZE = len(_TOPOLOGY.node_cap)
POOLS = len(_TOPOLOGY.pools)

NODES = range(0, SIZE, SIZE // 48)  # a few dozen nodes across every pool: reservations and gangs meet
nodes_st = st.lists(st.sampled_from(NODES), min_size=1, max_size=12, unique=True)
step_st = st.one_of(
    st.tuples(st.just("hold"), nodes_st, st.booleans()),
    st.tuples(st.just("take"), nodes_st, st.booleans()),
    st.tuples(st.just("give"), nodes_st, st.booleans()),
    st.tuples(st.just("build"), st.just([0]), st.just(False)),
)
pools_st = st.lists(st.integers(0, POOLS - 1), min_size=1, max_size=POOLS, unique=True)


def _placement(ledger: Capacity, nodes: list[int], exclusive: bool) -> Placement | None:
    """A gang the ledger can take: on wholly free nodes if exclusive, else half of each one's free."""
    free, caps = ledger.free, _TOPOLOGY.node_cap
    nodes = [n for n in nodes if (free[n] == caps[n] if exclusive else free[n]) and caps[n]]
    if not nodes:
        return None
    counts = tuple(caps[n] if exclusive else max(1, free[n] // 2) for n in nodes)
    return Placement(
        job_id="j",
        accelerator_type="x",
        node_ids=tuple(str(n) for n in nodes),
        counts=counts,
        nodes=tuple(nodes),
        pool=_TOPOLOGY.node_pool[nodes[0]],
        exclusive=exclusive,
    )


def _reference(ledger: Capacity, view: HeldView) -> Capacity:
    copy = ledger.copy()
    copy.hold(tuple(dict.fromkeys(view.order)))
    return copy


def _same_answers(ledger: Capacity, view: HeldView, pools: tuple[int, ...]) -> None:
    reference = _reference(ledger, view)
    for asked in (pools, tuple(range(POOLS))):
        assert view.free_in(asked) == reference.free_in(asked)
        whole = sum(
            reference.whole[FACILITY][u[0]] * p.per_node
            for u, p in zip(_TOPOLOGY.pool_units[FACILITY], _TOPOLOGY.pools, strict=True)
            if p.index in asked
        )
        for exclusive in (False, True):
            for need in {1, 8, reference.free_in(asked), reference.free_in(asked) + 1, whole, whole + 1}:
                assert view.fits(asked, need, exclusive) == reference.fits_somewhere(asked, need, exclusive)
    if view.built is not None:
        for name in ("free", "total", "acc", "whole"):
            assert getattr(view.built, name) == getattr(reference, name), name


@settings(deadline=None, max_examples=200)
@given(
    st.lists(st.tuples(st.sampled_from(NODES), st.integers(-1, 8)), max_size=40),
    st.lists(st.tuples(step_st, pools_st), max_size=25),
)
def test_the_view_answers_as_the_held_copy(
    before: list[tuple[int, int]], steps: list[tuple[tuple[str, list[int], bool], list[int]]]
) -> None:
    ledger = Capacity(_TOPOLOGY)  # the cycle's ledger: some nodes used, some down (-1)
    for n, value in before:
        if value < 0:
            ledger.fail(n)
        elif not ledger.down[n]:
            ledger.set_free(n, min(value, _TOPOLOGY.node_cap[n]))
    view = HeldView(ledger)
    taken: list[Placement] = []
    for (op, nodes, exclusive), pools in steps:
        if op == "hold":
            view.hold(tuple(nodes))  # reservations never share a node; the view holds one twice once
        elif op == "build":
            view.capacity()
        elif op == "take" and (placement := _placement(ledger, nodes, exclusive)) is not None:
            view.take(placement)  # a start: on the ledger and the view
            taken.append(placement)
        elif op == "give" and taken:  # a preemption's victim: on the ledger and the view
            view.give(taken.pop(nodes[0] % len(taken)))
        _same_answers(ledger, view, tuple(pools))


def test_a_cycle_without_a_look_at_its_buckets_builds_no_copy() -> None:
    ledger = Capacity(_TOPOLOGY)
    view = HeldView(ledger)
    view.hold((0, 1, 2))
    everything = tuple(range(POOLS))
    assert view.free_in(everything) == ledger.free_in(everything) - sum(ledger.free[n] for n in (0, 1, 2))
    assert not view.fits(everything, ledger.free_in(everything), exclusive=False)
    assert view.built is None
    assert view.capacity().held == {0, 1, 2}


def _checked(monkeypatch: pytest.MonkeyPatch) -> Counter[tuple[str, bool]]:
    """Every ``fits`` and ``free_in`` a cycle asks is also asked of a copy held afresh, for every
    pool; the calls are counted by whether the view's copy was built."""
    calls: Counter[tuple[str, bool]] = Counter()
    fits, free_in = HeldView.fits, HeldView.free_in

    def checked_fits(view: HeldView, pools: tuple[int, ...], need: int, exclusive: bool) -> bool:
        reference = _reference(view.ledger, view)
        for pool in range(len(view.ledger.topology.pools)):
            for size in (1, 4, 8, 64, 512):
                assert fits(view, (pool,), size, exclusive) == reference.fits_somewhere(
                    (pool,), size, exclusive
                )
        calls["fits", view.built is not None] += 1
        answer = fits(view, pools, need, exclusive)
        assert answer == reference.fits_somewhere(pools, need, exclusive)
        return answer

    def checked_free_in(view: HeldView, pools: tuple[int, ...]) -> int:
        reference = _reference(view.ledger, view)
        assert [free_in(view, (p,)) for p in range(len(view.ledger.topology.pools))] == [
            reference.free_in((p,)) for p in range(len(view.ledger.topology.pools))
        ]
        calls["free_in", view.built is not None] += 1
        return free_in(view, pools)

    monkeypatch.setattr(HeldView, "fits", checked_fits)
    monkeypatch.setattr(HeldView, "free_in", checked_free_in)
    return calls


POLICIES_BY_SEED = (
    POLICIES["full"],
    Policy(name="conservative", backfill=Backfill.CONSERVATIVE, reservations=4),
    Policy(
        name="eager", backfill=Backfill.CONSERVATIVE, reservations=8, max_victims=4, preemption_attempts=50
    ),
)


def test_cycles_ask_the_view_only_what_a_held_copy_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    """Real cycles (EASY and conservative backfill, preemption, nodes failing and coming back): the
    view's every answer, with its copy built or not, is the fresh held copy's; both are met."""
    calls = _checked(monkeypatch)
    for seed in range(6):
        _run_cycles(seed, cycles=40)
    assert calls["fits", False] + calls["free_in", False] > 0  # answered without the copy
    assert calls["fits", True] + calls["free_in", True] > 0


def _run_cycles(seed: int, cycles: int) -> None:
    rng = random.Random(seed)
    topology = build_topology(generate_facility(512, seed=seed))
    kinds = sorted({p.accelerator_type for p in topology.pools})
    capacity, running, queue, down = Capacity(topology), dict[str, Running](), Queue(), set[int]()
    for cycle in range(cycles):
        now = 1000.0 + 300 * cycle
        for k in range(rng.randint(0, 12)):
            queue.add(_job(rng, f"j{cycle}-{k}", now, kinds))
        for done in [r for r in running.values() if r.end_s <= now]:
            capacity.give(running.pop(done.job.id).placement)
        if rng.random() < 0.3:
            _fail_or_repair(rng.randrange(len(topology.node_cap)), capacity, running, queue, down)
        snapshot = Snapshot(capacity=capacity, running=running, shares=SHARES, usage=Usage(at=now))
        policy = POLICIES_BY_SEED[seed % len(POLICIES_BY_SEED)]
        apply_decisions(schedule(snapshot, queue, now, policy), capacity, running, queue, now)


SHARES = Shares(members={"DE": 2, "FR": 1})


def _job(rng: random.Random, job_id: str, now: float, kinds: list[str]) -> Job:
    return Job(
        id=job_id,
        accelerators=rng.choice([1, 2, 3, 4, 8, 16, 32, 64, 128, 256]),
        estimate_s=rng.choice([400.0, 900.0, 3600.0, 20000.0, 86400.0]),
        accelerator_type=rng.choice([None, *kinds]),
        member=rng.choice(["DE", "FR"]),
        project=rng.choice("abc"),
        priority_class=rng.choice(list(PriorityClass)),
        label=rng.choice([SafetyLevel.L1, SafetyLevel.L1, SafetyLevel.L2]),
        checkpoint_s=0.0,
        allow_cross_site=rng.random() < 0.3,
        submit_s=now - rng.random() * 100,
    )


def _fail_or_repair(
    n: int, capacity: Capacity, running: dict[str, Running], queue: Queue, down: set[int]
) -> None:
    """Between cycles: a node comes back, or fails (whoever ran there released and queued again)."""
    if n in down:
        capacity.repair(n)
        down.discard(n)
        return
    for hit in [r for r in running.values() if n in r.placement.nodes]:
        capacity.give(running.pop(hit.job.id).placement)
        queue.add(hit.job)
    capacity.fail(n)
    down.add(n)
