"""A record made with a writer's ``Spelling`` (each job spelled once while its view is the same object)
is the very record made without one, byte for byte, over cycles where jobs join, change, are handed
over again as new but equal objects, change engine and leave; and after a ``forget`` (a reset naming
the last record), with the spelling dropped or kept."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace

from hypothesis import given, settings
from hypothesis import strategies as st

from pnyx.audit.ledger import Ledger, Spelling, follow, record, restarted
from pnyx.audit.wire import CycleInputs, CycleOutputs, Held
from pnyx.scheduler.fairshare import Shares, Usage
from pnyx.scheduler.model import Decisions, Job, Placement, Running
from pnyx.scheduler.policy import policy_named

NOTHING = CycleOutputs(decisions=Decisions())
ACTIONS = ("join", "change", "renew", "engine", "leave")
Step = tuple[int, str, bool]  # (job number, action, holding?)


@dataclass(slots=True)
class Jobs:
    """The views a dispatcher would hand over: kept objects while a job is unchanged."""

    queue: dict[str, tuple[Job, str]] = field(default_factory=dict)
    holding: dict[str, Held] = field(default_factory=dict)

    def step(self, n: int, action: str, holding: bool) -> None:
        if holding:
            self._held(f"h{n}", action)
        else:
            self._queued(f"q{n}", action)

    def _queued(self, job_id: str, action: str) -> None:
        job, engine = self.queue.get(job_id) or (_job(job_id), "slurm")
        changed = {
            "join": (job, engine),
            "change": (replace(job, estimate_s=job.estimate_s + 60), engine),
            "renew": (replace(job), engine),  # equal values, a new object
            "engine": (job, "ray" if engine == "slurm" else "slurm"),  # the same view, another engine
        }
        if action == "leave":
            self.queue.pop(job_id, None)
        else:
            self.queue[job_id] = changed[action]

    def _held(self, job_id: str, action: str) -> None:
        h = self.holding.get(job_id) or _held(job_id)
        changed = {
            "join": h,
            "change": replace(h, started=not h.started),
            "renew": replace(h),
            "engine": replace(h, engine="ray" if h.engine == "slurm" else "slurm"),
        }
        if action == "leave":
            self.holding.pop(job_id, None)
        else:
            self.holding[job_id] = changed[action]

    def inputs(self, now: float) -> CycleInputs:
        return CycleInputs(
            now=now,
            queue=tuple(job for job, _ in self.queue.values()),
            engines={job_id: engine for job_id, (_, engine) in self.queue.items()},
            holding=tuple(self.holding.values()),
            shares=Shares(members={"DE": 1.0}, projects={("DE", "p"): 1.0}),
            policy=policy_named("full"),
            history=Usage(at=now, by_user={("DE", "p", "u"): now / 1000}),
        )


def _job(job_id: str) -> Job:
    return Job(id=job_id, accelerators=8, estimate_s=600.0, member="DE", project="p", submit_s=1.0)


def _held(job_id: str) -> Held:
    job = _job(job_id)
    placement = Placement(
        job_id=job_id,
        accelerator_type="H100-SXM",
        node_ids=("n0",),
        counts=(8,),
        nodes=(0,),
        pool=0,
        exclusive=False,
    )
    running = Running(job=job, placement=placement, start_s=2.0, end_s=9e9)
    return Held(running=running, engine="slurm", started=True, handed_s=2.0)


def _text(parts: list[dict[str, object]]) -> str:
    return json.dumps(parts, sort_keys=True)


steps = st.tuples(st.integers(0, 5), st.sampled_from(ACTIONS), st.booleans())
cycles = st.lists(st.tuples(st.lists(steps, max_size=8), st.sampled_from(["go", "forget", "forget all"])))


@settings(max_examples=200, deadline=None)
@given(cycles=cycles, budget=st.sampled_from([300, 56_000]))
def test_a_spelled_record_is_the_plain_one_byte_for_byte(
    cycles: list[tuple[list[Step], str]], budget: int
) -> None:
    jobs, spelling = Jobs(), Spelling()
    plain: Ledger | None = None
    spelled: Ledger | None = None
    for k, (changes, turn) in enumerate(cycles):
        for n, action, holding in changes:
            jobs.step(n, action, holding)
        if turn != "go" and plain is not None and spelled is not None:  # a lead lost: a reset next
            plain, spelled = restarted(plain.seq, plain.digest), restarted(spelled.seq, spelled.digest)
            spelling = Spelling() if turn == "forget all" else spelling  # a cache: dropped or not
        inputs, header = jobs.inputs(1000.0 + k), {"scheduler": "v", "topology": "t", "now": 1000.0 + k}
        read = None if plain is None or not plain.whole else plain
        parts, plain = record(plain, inputs, NOTHING, header=header, budget=budget)
        again, spelled = record(spelled, inputs, NOTHING, header=header, budget=budget, spelling=spelling)
        assert _text(again) == _text(parts)
        assert (spelled.seq, spelled.digest) == (plain.seq, plain.digest)
        assert (spelled.queue, spelled.holding) == (plain.queue, plain.holding)
        replayed = follow(read, parts)
        assert (replayed.queue, replayed.holding) == (plain.queue, plain.holding)


def test_a_job_handed_over_unchanged_is_spelled_once_and_left_out_of_the_next_record() -> None:
    jobs, spelling = Jobs(), Spelling()
    jobs.step(1, "join", False)
    jobs.step(2, "join", True)
    first = jobs.inputs(1000.0)
    _, ledger = record(None, first, NOTHING, header={}, spelling=spelling)
    jobs.step(3, "join", False)
    second = jobs.inputs(1001.0)
    parts, after = record(ledger, second, NOTHING, header={}, spelling=spelling)
    assert after.queue["q1"] is ledger.queue["q1"]
    assert after.holding["h2"] is ledger.holding["h2"]
    assert [row[0] for row in parts[0]["body"]["queue_set"]] == ["q3"]
    assert "holding_set" not in parts[0]["body"]


def test_only_the_jobs_of_the_last_inputs_are_kept() -> None:
    jobs, spelling = Jobs(), Spelling()
    for n in range(3):
        jobs.step(n, "join", False)
        jobs.step(n, "join", True)
    record(None, jobs.inputs(1000.0), NOTHING, header={}, spelling=spelling)
    jobs.step(0, "leave", False)
    jobs.step(1, "leave", True)
    record(None, jobs.inputs(1001.0), NOTHING, header={}, spelling=spelling)
    assert sorted(spelling.queued) == ["q1", "q2"]
    assert sorted(spelling.held) == ["h0", "h2"]
