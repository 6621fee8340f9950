"""The replay against a hostile log (a facility signs whatever it likes): the jobs' own events must
match the records, placements name real nodes, holding jobs keep the placement rules, record rows
agree with the jobs' submissions, time does not go back, and no entry ends the replay in a traceback."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest

from pnyx.audit.entries import log_entries
from pnyx.audit.ledger import record
from pnyx.audit.replay import CYCLE, TOPOLOGY, ReplayReport, replay
from pnyx.audit.rerun import decide
from pnyx.audit.standalone import summary_lines
from pnyx.audit.topology_wire import topology_parts
from pnyx.audit.wire import CycleInputs, CycleOutputs, Held, placement_in
from pnyx.inventory.model import Facility, Node
from pnyx.inventory.rules import accelerator_type
from pnyx.safety.model import SafetyLevel
from pnyx.scheduler.fairshare import Shares
from pnyx.scheduler.model import Decisions, Job, Placement, Preemption, Running
from pnyx.scheduler.policy import policy_named
from pnyx.scheduler.topology import Topology, build_topology
from pnyx.transparency import merkle, tiles

L1, L2, L3 = SafetyLevel.L1, SafetyLevel.L2, SafetyLevel.L3
Entry = dict[str, Any]


def _topology() -> Topology:
    levels = (L2, L2, L2)
    nodes = tuple(
        Node(
            id=f"n{i}",
            rack_id="r",
            island_id="i",
            site_id="s",
            nvlink_domain=f"n{i}",
            accelerator_type="H100-SXM",
            accelerators=8,
            safety_level=level,
        )
        for i, level in enumerate(levels)
    )
    return build_topology(
        Facility(types=(accelerator_type("H100-SXM"),), sites=(), islands=(), racks=(), nodes=nodes)
    )


def _job(job_id: str, n: int = 8, label: SafetyLevel = L1, project: str = "p") -> Job:
    return Job(
        id=job_id, accelerators=n, estimate_s=600.0, label=label, project=project, member="DE", user="ada"
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
    running = Running(job=job, placement=_place(t, job.id, node, job.accelerators), start_s=0.0, end_s=9e9)
    return Held(running=running, engine="fake", started=True, handed_s=0.0)


def _inputs(queue: list[Job], holding: list[Held] | None = None, now: float = 1000.0) -> CycleInputs:
    return CycleInputs(
        now=now,
        queue=tuple(queue),
        engines={j.id: "fake" for j in queue},
        holding=tuple(holding or ()),
        shares=Shares(members={"DE": 1.0}),
        policy=policy_named("full"),
    )


def _submitted(job: Job, label: str = "L1") -> Entry:
    data = {"job_id": job.id, "project": job.project, "user": job.user, "accelerators": job.accelerators}
    return {"type": "jobs.job.submitted", "data": {**data, "label": label}}


def _moved(job_id: str, action: str, node_ids: list[str], reason: str = "") -> Entry:
    data = {"job_id": job_id, "action": action, "node_ids": node_ids, "reason": reason}
    return {"type": "jobs.job.state_changed", "data": {**data, "status": "-", "attempt": 0}}


def _records(t: Topology, cycles: list[tuple[CycleInputs, CycleOutputs]]) -> list[Entry]:
    parts, ledger, out = topology_parts(t), None, []
    for inputs, outputs in cycles:
        header = {"scheduler": "v", "topology": parts[0].digest, "now": inputs.now}
        cycle, ledger = record(ledger, inputs, outputs, header=header)
        out += [{"type": CYCLE, "data": data} for data in cycle]
    return out


def _log(t: Topology, *entries: Entry) -> list[tuple[int, Any]]:
    """The topology, then ``entries``, as a reader of the log sees them."""
    tops = [{"type": TOPOLOGY, "data": {k: getattr(p, k) for k in p.__slots__}} for p in topology_parts(t)]
    return [(i, json.loads(json.dumps(e))) for i, e in enumerate([*tops, *entries])]


def _found(entries: list[tuple[int, Any]]) -> list[tuple[int, str]]:
    report = replay(entries, {"v"})
    return [(p.index, p.message) for p in report.problems if "the scheduler decides" not in p.message]


def _honest(t: Topology) -> tuple[Job, list[Entry]]:
    """Job a submitted, started on n1 by a record, dispatched there."""
    a = _job("a")
    inputs = _inputs([a])
    [cycle] = _records(t, [(inputs, decide(t, inputs))])
    assert cycle["data"]["body"]["starts"] == [["a", "H100-SXM", [0], [8]]]
    return a, [_submitted(a), cycle, _moved("a", "dispatch", ["n0"])]


# --- F1: the jobs' own events against the records ------------------------------------------------


def test_the_honest_log_replays_with_its_job_events() -> None:
    t = _topology()
    _a, entries = _honest(t)
    report = replay(_log(t, *entries), {"v"})
    assert report.ok, report.problems
    assert report.agreed == 1


def test_a_dispatch_elsewhere_than_the_record_says_is_a_finding_naming_both_indexes() -> None:
    t = _topology()
    _a, (submitted, cycle, _dispatch) = _honest(t)
    log = _log(t, submitted, cycle, _moved("a", "dispatch", ["n2"]))
    record_at, event_at = log[-2][0], log[-1][0]
    assert _found(log) == [
        (event_at, f"job a is dispatched to ['n2']; the record at index {record_at} starts it on ['n0']")
    ]


def test_dispatches_with_no_record_fail_the_replay() -> None:
    t = _topology()
    _a, (submitted, _cycle, dispatch) = _honest(t)
    report = replay(_log(t, submitted, dispatch), {"v"})
    assert report.cycles == 0
    assert [p.message for p in report.problems] == [
        "job a is dispatched, but no decision record comes before it"
    ]


def test_a_dispatch_the_last_record_did_not_decide_is_a_finding() -> None:
    t = _topology()
    _a, (submitted, cycle, dispatch) = _honest(t)
    log = _log(t, submitted, cycle, dispatch, dispatch)  # dispatched twice on one start
    assert _found(log) == [
        (
            log[-1][0],
            f"job a is dispatched, but the decision record before it (index {log[-3][0]}) does not start it",
        )
    ]


def test_a_preemption_requeue_must_be_a_recorded_preemption_by_the_same_job() -> None:
    t = _topology()
    victim, urgent = _job("v"), _job("u")
    inputs = _inputs([urgent], [_held(t, victim, 0)])
    preempted = CycleOutputs(decisions=Decisions(preemptions=(Preemption(job_id="v", by="u", lost_s=0.0),)))
    [cycle] = _records(t, [(inputs, preempted)])
    reason = "preempted by {}; 0 s of work since the last checkpoint lost"
    honest = _log(
        t, _submitted(victim), _submitted(urgent), cycle, _moved("v", "requeue", [], reason.format("u"))
    )
    assert _found(honest) == []
    forged = _log(
        t, _submitted(victim), _submitted(urgent), cycle, _moved("v", "requeue", [], reason.format("x"))
    )
    assert _found(forged) == [
        (forged[-1][0], f"job v is requeued as preempted by x; the record at index {forged[-2][0]} says by u")
    ]
    unrecorded = _log(t, _submitted(victim), _moved("v", "requeue", [], reason.format("u")))
    assert _found(unrecorded) == [
        (unrecorded[-1][0], "job v is requeued as preempted by u, but no decision record comes before it")
    ]
    lost = _log(t, _submitted(victim), _moved("v", "requeue", [], "the fake engine lost the job; requeued"))
    assert _found(lost) == []  # no scheduling decision: not the records' business


def test_a_reset_record_after_the_first_is_reported() -> None:
    t = _topology()
    _a, (submitted, cycle, dispatch) = _honest(t)
    log = _log(t, submitted, cycle, dispatch, cycle)
    report = replay(log, {"v"})
    assert report.resets == [log[-1][0]]
    assert f"note: index {log[-1][0]}: a reset record (a dispatcher restarted)" in "\n".join(
        summary_lines(report)
    )


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        (b'{"type":"x"', "not JSON (JSONDecodeError)"),
        (b"[1]", "JSON, but a list, not an object"),
        (b"[" * 5000 + b"]" * 5000, "not JSON (RecursionError)"),
        (b'{"type":"x","data":{"now":NaN}}', "not JSON (ValueError)"),
        (b'{"type":"x","data":{"now":1e999}}', "not JSON (ValueError)"),
        (b"\xff", "not JSON (UnicodeDecodeError)"),
    ],
)
def test_an_entry_that_is_not_a_json_object_is_a_finding(raw: bytes, why: str) -> None:
    raws = (b'{"type":"a","data":{}}', raw)
    bundle = b"".join(len(e).to_bytes(2, "big") + e for e in raws)

    class Source:
        def get(self, path: str) -> bytes:
            assert path == f"tile/{next(iter(tiles.tiles_for_size(None, 2))).path}"
            return bundle

    report = replay(log_entries(Source(), b"".join(merkle.leaf_hash(e) for e in raws)), {"v"})
    assert [(p.index, p.message) for p in report.problems] == [(1, f"the entry is not an event: {why}")]


# --- F2, F3, F7: placements ----------------------------------------------------------------------


def _forged(t: Topology, change: Callable[[dict[str, Any]], None], *jobs: Job) -> list[tuple[int, Any]]:
    _a, (_submitted_a, cycle, _dispatch) = _honest(t)
    forged = copy.deepcopy(cycle)
    change(forged["data"]["body"])
    return _log(t, *(_submitted(j) for j in jobs), forged)


def _held_row(job_id: str, project: str, node: int, n: int, label: int) -> list[Any]:
    job = [job_id, n, 600, "H100-SXM", "DE", project, "ada", "entitled", label, 0, False, 1.0]
    return [*job, "fake", True, 1.0, [job_id, "H100-SXM", [node], [n]], 1.0, 9e9]


def test_a_node_index_outside_the_topology_is_a_finding_not_the_last_node() -> None:
    t = _topology()  # node 2 is the last: -1 would be it
    holding = [_held_row("l2", "p1", 2, 4, 2), _held_row("other", "p2", -1, 4, 1)]
    messages = [m for _i, m in _found(_forged(t, lambda body: body.__setitem__("holding_set", holding)))]
    assert "record 1: holding job other: placement names a node the topology does not have" in messages
    assert not any("shares node" in m for m in messages)  # -1 is no node: nothing to share
    with pytest.raises(ValueError, match="outside the topology"):
        placement_in(["j", "H100-SXM", [-1], [4]], t, False)
    with pytest.raises(ValueError, match="counts"):
        placement_in(["j", "H100-SXM", [0], [0]], t, False)


def test_holding_jobs_keep_the_placement_rules() -> None:
    t = _topology()
    holding = [_held_row("big", "p", 1, 64, 3)]  # L3 on an L2 node, 64 accelerators on an 8 one
    messages = [m for _i, m in _found(_forged(t, lambda body: body.__setitem__("holding_set", holding)))]
    assert "record 1: holding job big: labelled L3 but placed on nodes certified L2" in messages
    assert "record 1: holding job big: a node is given more accelerators than it has, or none" in messages


def test_a_job_twice_in_one_kind_of_output_is_a_finding() -> None:
    t = _topology()
    log = _forged(t, lambda body: body["starts"].insert(0, ["a", "H100-SXM", [2], [8]]))
    assert "record 1: job a appears more than once in starts" in [m for _i, m in _found(log)]


# --- F4: record rows against the jobs' own entries; time -----------------------------------------


def test_a_record_row_that_contradicts_the_submission_is_a_finding() -> None:
    t = _topology()
    a = _job("a")
    [cycle] = _records(t, [(_inputs([a]), decide(t, _inputs([a])))])
    log = _log(t, _submitted(a, label="L2+project:p"), cycle, _moved("a", "dispatch", ["n0"]))
    assert _found(log) == [(log[-2][0], "record 1: job a: label level 1 in the record, 2 in its own entries")]
    relabelled = {"type": "jobs.job.relabelled", "data": {"job_id": "a", "label": "L1", "status": "pending"}}
    assert _found(_log(t, _submitted(a, label="L2+project:p"), relabelled, cycle)) == []


def test_a_member_state_that_is_not_the_projects_allocation_is_a_finding() -> None:
    t = _topology()
    _a, entries = _honest(t)
    allocation = {"type": "allocation.allocation.created", "data": {"project_id": "p", "member_state": "FR"}}
    log = _log(t, allocation, *entries)
    assert _found(log) == [
        (log[-2][0], "record 1: job a: member state DE in the record, FR in its own entries")
    ]


def test_a_job_with_no_submission_in_a_log_of_submissions_is_a_finding() -> None:
    t = _topology()
    _a, (_submitted_a, cycle, _dispatch) = _honest(t)
    log = _log(t, _submitted(_job("z")), cycle)
    assert _found(log) == [(log[-1][0], "record 1: job a has no jobs.job.submitted entry before it")]


def test_time_going_back_is_a_finding() -> None:
    t = _topology()
    a, b = _job("a"), _job("b")
    first = _inputs([a])
    second = _inputs([b], now=900.0)
    records = _records(t, [(first, decide(t, first)), (second, decide(t, second))])
    log = _log(t, *records)
    assert (log[-1][0], "record 2: now 900.0 is before the record before it (1000.0)") in _found(log)


# --- F5: never a traceback -----------------------------------------------------------------------


def _set(path: tuple[Any, ...], value: Any) -> Callable[[dict[str, Any]], None]:
    def change(entry: dict[str, Any]) -> None:
        target = entry
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return change


@pytest.mark.parametrize(
    ("change", "said"),
    [
        (_set(("data", "body"), [1]), "data.body is not an object"),
        (lambda e: e.__setitem__("data", [1]), "data is not an object"),
        (_set(("data", "now"), "abc"), "data.now is not a finite number"),
        (_set(("data", "parts"), "x"), "data.parts is not a positive integer"),
        (
            _set(("data", "body", "x"), json.loads("[" * 900 + "]" * 900)),
            "data.body has a field the auditor does not know: x",
        ),
        (
            _set(("data", "body", "queue_set", 0, 1), 10**4000),
            "data.body.queue_set[0][1] is not a positive integer",
        ),
        (
            _set(("data", "body", "queue_set", 0, 2), 1e300 * 1e10),
            "data.body.queue_set[0][2] is not a finite number",
        ),
        (_set(("data", "body", "starts", 0, 2), [[[[0]]]]), "data.body.starts[0][2][0] is not an integer"),
    ],
)
def test_a_malformed_record_is_a_finding_at_its_index(
    change: Callable[[dict[str, Any]], None], said: str
) -> None:
    t = _topology()
    _a, (submitted, cycle, _dispatch) = _honest(t)
    forged = copy.deepcopy(cycle)
    change(forged)
    tops = [{"type": TOPOLOGY, "data": {k: getattr(p, k) for k in p.__slots__}} for p in topology_parts(t)]
    log = list(enumerate([*tops, submitted, forged]))  # not through JSON: 10**4000 and inf as given
    report: ReplayReport = replay(log, {"v"})
    assert [(p.index, p.message) for p in report.problems] == [
        (log[-1][0], f"a malformed scheduler.cycle.decided entry: {said}")
    ]


def test_any_other_exception_in_an_entry_is_a_finding_at_its_index() -> None:
    t = _topology()
    bad = {"type": "jobs.job.submitted", "data": {"job_id": "a", "label": "L9", "project": "p"}}
    log = _log(t, bad)
    report = replay(log, {"v"})
    assert [(p.index, p.message[:48]) for p in report.problems] == [
        (log[-1][0], "a malformed jobs.job.submitted entry (KeyError: ")
    ]
