"""The shares a record uses against the council's and the awards' own entries (issue 14): member
states' weights are what the entitlements policy in force, the admissions and the contributions give
at the record's time (``governance.entitlements``), projects' what the allocations active give
(``allocation.weights``); a weight nobody adopted is a finding naming the record and the member or
project. A log without the council's entries (a twin's) is said to be unchecked, once. A reset record
names the record before it; a record missing between them is a finding."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from pnyx.allocation.events import AllocationCreated
from pnyx.audit.ledger import Ledger, record, restarted
from pnyx.audit.replay import CYCLE, TOPOLOGY, ReplayReport, replay
from pnyx.audit.rerun import decide
from pnyx.audit.standalone import summary_lines
from pnyx.audit.topology_wire import topology_parts
from pnyx.audit.wire import CycleInputs
from pnyx.core.events import DomainEvent, entry_bytes
from pnyx.governance.model import ContributionRecorded, MemberStateAdmitted
from pnyx.governance.motion import MotionDecided, MotionTabled
from pnyx.governance.policy import PolicyAdopted
from pnyx.scheduler.fairshare import Shares
from pnyx.scheduler.model import Job
from pnyx.scheduler.policy import policy_named
from pnyx.scheduler.topology import Topology
from tests.unit.audit.test_replay_hostile import _topology

Entry = dict[str, Any]
AT = datetime(2026, 3, 1, tzinfo=UTC)
NOW = AT.timestamp()
DAY = timedelta(days=1)


def _entry(event: DomainEvent) -> Entry:
    """An event as the log holds it (the log's own encoder)."""
    decoded: Entry = json.loads(entry_bytes(event, AT - 10 * DAY))
    return decoded


def _admitted(code: str, contribution: int) -> Entry:
    return _entry(
        MemberStateAdmitted(
            code=code,
            name=code,
            contribution_minor_units=contribution,
            currency="EUR",
            population=1,
            joined_on="2020-01-01",
        )
    )


def _council() -> list[Entry]:
    """DE contributes 600 a year and FR 400 (no policy: DE 0.6, FR 0.4); project p of DE holds an
    award of 100 hours active around NOW, project q's ended before it."""
    return [
        _admitted("DE", 600),
        _admitted("FR", 400),
        _award("p", AT - DAY, AT + DAY),
        _award("q", AT - 90 * DAY, AT - timedelta(seconds=1)),
    ]


def _award(project: str, start: datetime, end: datetime, hours: str = "100") -> Entry:
    return _entry(
        AllocationCreated(
            project_id=project,
            call_id="c",
            proposal_id=f"prop-{project}",
            member_state="DE",
            pool="member_pools",
            hours={"H100-SXM": hours},
            starts_at=start,
            ends_at=end,
        )
    )


def _policy(content: dict[str, Any], effective: datetime, version: int = 1) -> list[Entry]:
    """A policy as the vote service adopts it: its motion tabled with the effect, decided adopted,
    and the policy carrying it out."""
    motion = f"mot{version}"
    tabled = MotionTabled(
        motion_id=motion,
        title="t",
        text_sha256="0" * 64,
        decision_type="ordinary",
        effect=content,
        tabled_by="usr",
        member_state="DE",
        amends=None,
        effective_from=effective,
    )
    adopted = PolicyAdopted(
        policy_id=f"pol{version}",
        kind="entitlements",
        subject="",
        version=version,
        effective_from=effective,
        content=content,
        motion_id=motion,
    )
    decided = MotionDecided(motion_id=motion, state="adopted", amends=None)
    return [_entry(tabled), _entry(decided), _entry(adopted)]


def _inputs(
    members: dict[str, float], projects: dict[tuple[str, str], float], now: float = NOW
) -> CycleInputs:
    job = Job(id="a", accelerators=8, estimate_s=600.0, member="DE", project="p", submit_s=now - 60)
    return CycleInputs(
        now=now,
        queue=(job,),
        engines={"a": "fake"},
        holding=(),
        shares=Shares(members=members, projects=projects),
        policy=policy_named("full"),
    )


HONEST = _inputs({"DE": 0.6, "FR": 0.4}, {("DE", "p"): 100.0})


def _records(
    t: Topology, cycles: list[CycleInputs], before: Ledger | None = None
) -> tuple[list[Entry], Ledger]:
    digest, out = topology_parts(t)[0].digest, []
    for inputs in cycles:
        header = {"scheduler": "v", "topology": digest, "now": inputs.now}
        parts, before = record(before, inputs, decide(t, inputs), header=header)
        out += [{"type": CYCLE, "data": data} for data in parts]
    assert before is not None
    return out, before


def _replayed(t: Topology, *entries: Entry) -> tuple[list[tuple[int, Any]], ReplayReport]:
    tops = [{"type": TOPOLOGY, "data": {k: getattr(p, k) for k in p.__slots__}} for p in topology_parts(t)]
    log = [(i, json.loads(json.dumps(e))) for i, e in enumerate([*tops, *entries])]
    return log, replay(log, {"v"})


def _found(report: ReplayReport) -> list[tuple[int, str]]:
    return [(p.index, p.message) for p in report.problems]


# --- shares against the council's and the awards' entries -----------------------------------------


def test_shares_the_entries_give_pass_and_are_checked() -> None:
    t = _topology()
    cycles, _ = _records(t, [HONEST])
    _log, report = _replayed(t, *_council(), *cycles)
    assert _found(report) == []
    assert report.agreed == 1
    assert report.notes == []


def test_member_shares_the_council_never_adopted_are_a_finding_naming_the_record_and_member() -> None:
    t = _topology()
    cycles, _ = _records(t, [_inputs({"DE": 0.5, "FR": 0.5}, {("DE", "p"): 100.0})])
    log, report = _replayed(t, *_council(), *cycles)
    index = log[-1][0]
    assert _found(report) == [
        (index, "record 1: shares: member state DE weighs 0.5 in the record; the council's entries give 0.6"),
        (index, "record 1: shares: member state FR weighs 0.5 in the record; the council's entries give 0.4"),
    ]


def test_a_member_the_entries_do_not_know_is_named() -> None:
    t = _topology()
    cycles, _ = _records(t, [_inputs({"DE": 0.6, "FR": 0.4, "IT": 0.1}, {("DE", "p"): 100.0})])
    _log, report = _replayed(t, *_council(), *cycles)
    assert [m for _, m in _found(report)] == [
        "record 1: shares: member state IT weighs 0.1 in the record; the council's entries give nothing"
    ]


def test_project_weights_are_the_awards_active_at_the_records_time() -> None:
    t = _topology()
    ended = _inputs({"DE": 0.6, "FR": 0.4}, {("DE", "p"): 100.0, ("DE", "q"): 100.0})
    cycles, _ = _records(t, [ended])
    _log, report = _replayed(t, *_council(), *cycles)
    assert [m for _, m in _found(report)] == [
        "record 1: shares: project q of DE weighs 100.0 in the record; the awards give nothing"
    ]
    doubled, _ = _records(t, [_inputs({"DE": 0.6, "FR": 0.4}, {("DE", "p"): 200.0})])
    _log, report = _replayed(t, *_council(), *doubled)
    assert [m for _, m in _found(report)] == [
        "record 1: shares: project p of DE weighs 200.0 in the record; the awards give 100.0"
    ]


def test_the_policy_in_force_at_the_records_time_decides() -> None:
    """A fixed table in force from before NOW replaces the contributions; one from after NOW does not
    count yet; of two in force, the later effective date wins."""
    t = _topology()
    table = {"type": "set_member_shares", "shares": {"DE": "1/4", "FR": "3/4"}}
    later = {"type": "set_member_shares", "shares": {"DE": "1/2", "FR": "1/2"}}
    quarter = _inputs({"DE": 0.25, "FR": 0.75}, {("DE", "p"): 100.0})
    policies = [*_policy(table, AT - DAY), *_policy(later, AT + DAY, version=2)]
    cycles, _ = _records(t, [quarter])
    _log, report = _replayed(t, *_council(), *policies, *cycles)
    assert _found(report) == []
    honest, _ = _records(t, [HONEST])
    _log, report = _replayed(t, *_council(), *policies, *honest)
    assert len(_found(report)) == 2  # the contributions no longer decide


def test_the_cash_formula_over_the_years_contributions() -> None:
    """Under the cash formula, DE's in-kind contribution for the budget year counts for nothing."""
    t = _topology()
    year = _entry(
        ContributionRecorded(
            code="DE", budget_year=2026, cash_minor_units=400, in_kind_minor_units=600, currency="EUR"
        )
    )
    cash = _policy({"type": "set_entitlement_formula", "formula": "cash"}, AT - DAY)
    cycles, _ = _records(t, [HONEST])  # DE 0.6, FR 0.4 under cash: 400 / (400 + 400) is 0.5
    _log, report = _replayed(t, *_council(), year, *cash, *cycles)
    assert [m for _, m in _found(report)] == [
        "record 1: shares: member state DE weighs 0.6 in the record; the council's entries give 0.5",
        "record 1: shares: member state FR weighs 0.4 in the record; the council's entries give 0.5",
    ]
    fair, _ = _records(t, [_inputs({"DE": 0.5, "FR": 0.5}, {("DE", "p"): 100.0})])
    assert _found(_replayed(t, *_council(), year, *cash, *fair)[1]) == []
    by_total, _ = _records(t, [_inputs({"DE": 1000 / 1400, "FR": 400 / 1400}, {("DE", "p"): 100.0})])
    assert _found(_replayed(t, *_council(), year, *by_total)[1]) == []  # no policy: cash and in kind


def test_a_difference_is_named_once_while_nothing_changes() -> None:
    t = _topology()
    wrong = _inputs({"DE": 0.6, "FR": 0.5}, {("DE", "p"): 100.0})
    cycles, _ = _records(t, [wrong, wrong, wrong])
    _log, report = _replayed(t, *_council(), *cycles)
    assert len(_found(report)) == 1


def test_a_log_without_the_council_is_said_unchecked_once() -> None:
    t = _topology()
    cycles, _ = _records(t, [HONEST, HONEST])
    _log, report = _replayed(t, *cycles)
    assert _found(report) == []
    assert len(report.notes) == 1
    assert "note: not checked: the shares the records use" in "\n".join(summary_lines(report))


def test_a_malformed_council_entry_is_a_finding_naming_the_field() -> None:
    t = _topology()
    bad = _admitted("DE", 600)
    bad["data"]["contribution_minor_units"] = "lots"
    log, report = _replayed(t, bad)
    assert _found(report) == [
        (
            log[-1][0],
            "a malformed governance.member_state.admitted entry "
            "(ValueError: field contribution_minor_units is not an integer)",
        )
    ]


def test_an_unreadable_award_is_named_by_the_first_record_checked() -> None:
    t = _topology()
    award = _award("p", AT - DAY, AT + DAY)
    award["data"]["starts_at"] = "yesterday"
    cycles, _ = _records(t, [_inputs({"DE": 0.6, "FR": 0.4}, {})])
    log, report = _replayed(t, _admitted("DE", 600), _admitted("FR", 400), award, *cycles)
    assert [m for _, m in _found(report)] == [
        f"record 1: shares: the allocation entry at index {log[-2][0]} cannot be read "
        "(field starts_at is not a time spelt %Y-%m-%dT%H:%M:%S.%fZ)"
    ]


# --- a reset record names the record before it ----------------------------------------------------


def _restart(t: Topology) -> tuple[list[Entry], list[Entry], list[Entry]]:
    """Two records of one dispatcher, and the reset record of the next, naming the second."""
    first, ledger = _records(t, [HONEST])
    second, ledger = _records(t, [HONEST], before=ledger)
    reset, _ = _records(t, [HONEST], before=restarted(ledger.seq, ledger.digest))
    assert reset[0]["data"]["body"]["follows"] == {"seq": 2, "digest": ledger.digest}
    assert first[0]["data"]["body"]["follows"] is None
    return first, second, reset


def test_a_reset_naming_the_last_record_before_it_passes() -> None:
    t = _topology()
    first, second, reset = _restart(t)
    log, report = _replayed(t, *first, *second, *reset)
    assert _found(report) == []
    assert report.resets == [log[-1][0]]


def test_a_record_missing_before_a_reset_is_a_finding() -> None:
    t = _topology()
    first, _second, reset = _restart(t)
    log, report = _replayed(t, *first, *reset)
    [(index, message)] = _found(report)
    assert index == log[-1][0]
    assert message.startswith("record 1: the reset record follows record 2 (sha256:")
    assert message.endswith("record(s) missing or altered between")


def test_a_reset_that_names_no_record_after_records_is_a_finding() -> None:
    t = _topology()
    first, second, _ = _restart(t)
    fresh, _ = _records(t, [HONEST])  # a dispatcher that did not read the log back
    _log, report = _replayed(t, *first, *second, *fresh)
    [(_index, message)] = _found(report)
    assert message.startswith(
        "record 1: the reset record follows no record, but the record before it is record 2"
    )


def test_a_first_reset_naming_a_record_is_a_finding() -> None:
    t = _topology()
    _first, _second, reset = _restart(t)
    _log, report = _replayed(t, *reset)
    [(_index, message)] = _found(report)
    assert message.startswith("record 1: the reset record follows record 2")
    assert message.endswith("but the log holds no record before it")


def test_a_reset_without_follows_is_a_finding() -> None:
    t = _topology()
    first, _ = _records(t, [HONEST])
    del first[0]["data"]["body"]["follows"]
    _log, report = _replayed(t, *first)
    assert [m for _, m in _found(report)] == [
        "record 1: the reset record does not name the record before it (body.follows)"
    ]


def test_follows_of_the_wrong_shape_is_a_finding() -> None:
    t = _topology()
    first, _ = _records(t, [HONEST])
    first[0]["data"]["body"]["follows"] = {"seq": "2", "digest": "x"}
    _log, report = _replayed(t, *first)
    [(_index, message)] = _found(report)
    assert message.startswith(
        "a malformed scheduler.cycle.decided entry: data.body.follows is not null or an object"
    )
