"""Use against entitlement in the replay: a start that passes over a job before it in fair order and
no harder to place is a finding; use per window and member is reported, and checked against a gap
only when the auditor asks."""

from __future__ import annotations

import json
from typing import Any

from pnyx.audit.ledger import record
from pnyx.audit.replay import CYCLE, TOPOLOGY, replay
from pnyx.audit.rerun import decide
from pnyx.audit.topology_wire import topology_parts
from pnyx.audit.wire import CycleInputs, CycleOutputs, Held
from pnyx.inventory.model import Facility, Node
from pnyx.inventory.rules import accelerator_type
from pnyx.safety.model import SafetyLevel
from pnyx.scheduler.fairshare import Shares, Usage
from pnyx.scheduler.model import Decisions, Job, Placement, Preemption, Running
from pnyx.scheduler.policy import policy_named
from pnyx.scheduler.topology import Topology, build_topology

NOW = 1000.0


def _topology() -> Topology:
    nodes = tuple(
        Node(
            id=f"n{i}",
            rack_id="r",
            island_id="i",
            site_id="s",
            nvlink_domain=f"n{i}",
            accelerator_type="H100-SXM",
            accelerators=8,
            safety_level=SafetyLevel.L1,
        )
        for i in range(3)
    )
    return build_topology(
        Facility(types=(accelerator_type("H100-SXM"),), sites=(), islands=(), racks=(), nodes=nodes)
    )


def _job(job_id: str, member: str, n: int = 8, estimate_s: float = 600.0) -> Job:
    return Job(
        id=job_id, accelerators=n, estimate_s=estimate_s, member=member, project="p", submit_s=NOW - 60
    )


def _place(t: Topology, job_id: str, node: int, n: int = 8) -> Placement:
    return Placement(
        job_id=job_id,
        accelerator_type="H100-SXM",
        node_ids=(t.node_ids[node],),
        counts=(n,),
        nodes=(node,),
        pool=0,
        exclusive=False,
    )


def _held(t: Topology, job: Job, node: int) -> Held:
    running = Running(job=job, placement=_place(t, job.id, node), start_s=0.0, end_s=NOW + 3600)
    return Held(running=running, engine="fake", started=True, handed_s=0.0)


def _inputs(queue: list[Job], holding: list[Held]) -> CycleInputs:
    """DE holds a node since t=0 (over its half share); FR has used nothing."""
    return CycleInputs(
        now=NOW,
        queue=tuple(queue),
        engines={j.id: "fake" for j in queue},
        holding=tuple(holding),
        shares=Shares(members={"DE": 1.0, "FR": 1.0}),
        policy=policy_named("full"),
        history=Usage(at=NOW),
    )


def _log(t: Topology, inputs: CycleInputs, outputs: CycleOutputs) -> list[tuple[int, Any]]:
    parts = topology_parts(t)
    header = {"scheduler": "v", "topology": parts[0].digest, "now": NOW}
    cycle, _ = record(None, inputs, outputs, header=header)
    entries = [{"type": TOPOLOGY, "data": {k: getattr(p, k) for k in p.__slots__}} for p in parts]
    entries += [{"type": CYCLE, "data": data} for data in cycle]
    return [(i, json.loads(json.dumps(e))) for i, e in enumerate(entries)]


def _passed_over(entries: list[tuple[int, Any]]) -> list[str]:
    return [p.message for p in replay(entries, {"v"}).problems if "fair order" in p.message]


def test_the_honest_cycle_starts_the_member_under_its_share_and_passes() -> None:
    t = _topology()
    inputs = _inputs([_job("de", "DE"), _job("fr", "FR")], [_held(t, _job("run", "DE"), 0)])
    outputs = decide(t, inputs)
    assert [p.job_id for p in outputs.decisions.starts] == ["fr", "de"]
    report = replay(_log(t, inputs, outputs), {"v"})
    assert report.ok, report.problems


def test_a_forged_start_that_passes_over_the_member_under_its_share_is_a_finding() -> None:
    t = _topology()
    inputs = _inputs([_job("de", "DE"), _job("fr", "FR")], [_held(t, _job("run", "DE"), 0)])
    forged = CycleOutputs(decisions=Decisions(starts=(_place(t, "de", 1),)))  # fr fits on node 2
    found = _passed_over(_log(t, inputs, forged))
    assert found == [
        "record 1: job de (DE) started ahead of job fr (FR), waiting, before it in fair order and no "
        "harder to place"
    ]


def test_a_waiting_job_harder_to_place_may_be_passed_over() -> None:
    t = _topology()
    longer = _job("fr", "FR", estimate_s=7200.0)
    inputs = _inputs([_job("de", "DE"), longer], [_held(t, _job("run", "DE"), 0)])
    forged = CycleOutputs(decisions=Decisions(starts=(_place(t, "de", 1),)))
    assert _passed_over(_log(t, inputs, forged)) == []


def test_a_cycle_with_preemptions_is_not_checked_for_passing_over() -> None:
    t = _topology()
    inputs = _inputs([_job("de", "DE"), _job("fr", "FR")], [_held(t, _job("run", "DE"), 0)])
    preempted = (Preemption(job_id="run", by="de", lost_s=0.0),)
    forged = CycleOutputs(decisions=Decisions(starts=(_place(t, "de", 1),), preemptions=preempted))
    assert _passed_over(_log(t, inputs, forged)) == []


def test_use_is_reported_per_window_and_checked_against_a_gap_only_when_asked() -> None:
    t = _topology()
    inputs = _inputs([_job("de", "DE"), _job("fr", "FR")], [_held(t, _job("run", "DE"), 0)])
    entries = _log(t, inputs, decide(t, inputs))
    report = replay(entries, {"v"}, window_s=3600.0)
    [window] = report.windows
    assert (window.start, window.first_index, window.last_index) == (0.0, entries[-1][0], entries[-1][0])
    fr = next(u for u in window.members if u.member == "FR")
    assert (fr.waiting_throughout, fr.used_share, fr.entitled_share) == (True, 0.0, 0.5)
    assert report.ok
    gapped = replay(entries, {"v"}, window_s=3600.0, max_share_gap=0.25)  # one record: no time measured
    assert [(p.index, p.message) for p in gapped.problems] == [
        (
            window.last_index,
            f"window from 0: {m} waited throughout and used 0.0% against an entitled 50.0% "
            "(more than 25.0% under)",
        )
        for m in ("DE", "FR")
    ]
