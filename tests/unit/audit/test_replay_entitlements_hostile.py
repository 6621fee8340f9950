"""Hostile council and award entries against the shares check (review 5): each is one finding naming
the field, and the record's other checks still run; a policy no motion adopted is not trusted; the
allocations in force move by their starts and ends only, in any order of time; ``follows`` only on a
reset record's first part."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pnyx.allocation.weights import award_weights
from pnyx.audit.entitlements import Entitlements
from pnyx.governance.model import MemberStateStatusChanged
from pnyx.governance.motion import MotionAmended
from tests.unit.audit.test_replay_entitlements import (
    AT,
    DAY,
    HONEST,
    _admitted,
    _award,
    _council,
    _entry,
    _found,
    _inputs,
    _policy,
    _records,
    _replayed,
)
from tests.unit.audit.test_replay_hostile import _topology

FIXED = {"type": "set_member_shares", "shares": {"DE": "1/4", "FR": "3/4"}}
QUARTER = _inputs({"DE": 0.25, "FR": 0.75}, {("DE", "p"): 100.0})


def _messages(*entries: dict[str, Any], cycles: list[Any] | None = None) -> tuple[list[str], int]:
    """The findings' messages and the records decided again in agreement."""
    t = _topology()
    _log, report = _replayed(t, *entries, *(cycles if cycles is not None else _records(t, [HONEST])[0]))
    return [m for _, m in _found(report)], report.agreed


# --- finding 2: one bad value is one finding; the record's other checks go on ----------------------


def test_hours_beyond_2_to_the_53_are_named_and_the_records_still_rerun() -> None:
    t = _topology()
    cycles, _ = _records(t, [HONEST, HONEST, HONEST])
    for hours in ("1e999", "1e1000000", "-1"):
        award = _award("p", AT - DAY, AT + DAY, hours=hours)
        found, agreed = _messages(_admitted("DE", 600), _admitted("FR", 400), award, cycles=cycles)
        assert agreed == 3
        assert any("field hours.H100-SXM is not a number of hours from 0 to 2^53" in m for m in found)


def test_a_now_beyond_the_year_9999_is_one_finding_naming_now() -> None:
    t = _topology()
    far = _inputs({"DE": 0.6, "FR": 0.4}, {("DE", "p"): 100.0}, now=1e15)
    found, agreed = _messages(*_council(), cycles=_records(t, [far])[0])
    assert agreed == 1
    assert found == [
        "record 1: shares: not checked (ValueError: field now (1000000000000000.0) "
        "is not an instant of the years 1 to 9999)"
    ]


# --- finding 3: a policy is the council's only by a motion decided adopted ------------------------


def test_a_policy_no_motion_adopted_is_a_finding_and_not_trusted() -> None:
    t = _topology()
    forged = _policy(FIXED, AT - DAY)[-1]
    forged["data"]["motion_id"] = None
    found, _ = _messages(*_council(), forged, cycles=_records(t, [QUARTER])[0])
    assert found[0] == (
        "a malformed governance.policy.adopted entry "
        "(ValueError: field motion_id (None) names no motion decided adopted before it)"
    )
    assert "member state DE weighs 0.25 in the record; the council's entries give 0.6" in found[1]


def test_a_motion_decided_rejected_or_after_the_policy_adopts_nothing() -> None:
    tabled, decided, adopted = _policy(FIXED, AT - DAY)
    decided["data"]["state"] = "rejected"
    assert "names no motion decided adopted" in _messages(*_council(), tabled, decided, adopted)[0][0]
    decided["data"]["state"] = "adopted"
    assert "names no motion decided adopted" in _messages(*_council(), tabled, adopted, decided)[0][0]


def test_a_policy_whose_effect_is_not_its_motions_is_a_finding() -> None:
    tabled, decided, adopted = _policy(FIXED, AT - DAY)
    adopted["data"]["content"] = {"type": "set_member_shares", "shares": {"DE": "99/100", "FR": "1/100"}}
    found, _ = _messages(*_council(), tabled, decided, adopted)
    assert found[0].endswith("(ValueError: field content is not the effect of motion mot1)")


def test_an_adopted_amendment_changes_the_effect_a_policy_must_carry() -> None:
    t = _topology()
    tabled, decided, adopted = _policy(FIXED, AT - DAY)
    table = {"type": "set_member_shares", "shares": {"DE": "1/2", "FR": "1/2"}}
    amended = _entry(MotionAmended(motion_id="mot1", amendment_id="mot9", text_sha256="0", effect=table))
    adopted["data"]["content"] = table
    half = _records(t, [_inputs({"DE": 0.5, "FR": 0.5}, {("DE", "p"): 100.0})])[0]
    assert _messages(*_council(), tabled, amended, decided, adopted, cycles=half)[0] == []


def test_a_version_that_is_not_the_next_is_a_finding_naming_version() -> None:
    first = _policy(FIXED, AT - DAY)
    again = _policy({"type": "set_member_shares", "shares": {"DE": "1/2", "FR": "1/2"}}, AT - DAY)
    t = _topology()
    found, _ = _messages(*_council(), *first, *again, cycles=_records(t, [QUARTER])[0])
    assert found == [
        "a malformed governance.policy.adopted entry "
        "(ValueError: field version is 1; the entitlements policy before it is version 1)"
    ]


# --- finding 4: member codes as production writes them ---------------------------------------------


def test_a_member_code_that_is_not_two_capitals_is_refused() -> None:
    for code in ("", "de", "DEU", "X" * 5000, "DE\n"):
        entitlements = Entitlements()
        with pytest.raises(ValueError, match=r"^field code is not a member state code"):
            entitlements.see(0, "governance.member_state.admitted", _admitted(code, 1)["data"])
        assert entitlements.states == {}


@settings(max_examples=60, deadline=None)
@given(
    windows=st.lists(st.tuples(st.integers(0, 20), st.integers(1, 10)), min_size=1, max_size=12),
    times=st.lists(st.integers(-2, 32), min_size=1, max_size=20),
    late=st.integers(0, 12),
)
def test_the_allocations_in_force_are_the_naive_ones_at_any_time(
    windows: list[tuple[int, int]], times: list[int], late: int
) -> None:
    """Records asked in any order of time, awards arriving between them: the weights are those of
    production's ``award_weights`` over every allocation."""
    entitlements = Entitlements()
    entitlements.see(0, "governance.member_state.admitted", _admitted("DE", 1)["data"])
    awards = [
        _award(f"p{i}", AT + start * DAY, AT + (start + span) * DAY)
        for i, (start, span) in enumerate(windows)
    ]
    for i, when in enumerate(times):
        if i == late:
            for award in awards:
                entitlements.see(1, "allocation.allocation.created", award["data"])
        at = AT + when * DAY
        given = entitlements._given(at.timestamp())
        naive = award_weights(entitlements.allocations.values(), at)
        assert given.projects == {(m, p): w for m, p, w in naive}


# --- finding 5: the field is named -----------------------------------------------------------------


def test_each_unreadable_field_is_named() -> None:
    admitted = _admitted("DE", 600)
    admitted["data"]["joined_on"] = "yesterday"
    status = _entry(MemberStateStatusChanged(code="DE", status="withdrawn", reason="x"))
    half = {"type": "set_member_shares", "shares": {"DE": "1/2"}}
    award = _award("p", AT - DAY, AT + DAY)
    award["data"]["pool"] = "nowhere"
    said = {
        "field joined_on is not a date spelt YYYY-MM-DD": [_admitted("FR", 400), admitted],
        "field status is not one of active, suspended": [*_council(), status],
        "field content is not an entitlements effect (the shares must sum to exactly 1": [
            *_council(),
            *_policy(half, AT - DAY),
        ],
        "field pool is not one of directors_reserve, member_pools, open_calls, sme": [
            _admitted("DE", 600),
            award,
        ],
    }
    for message, entries in said.items():
        found, _ = _messages(*entries)
        assert any(message in m for m in found), (message, found)


# --- finding 9: follows only on a reset record's first part ----------------------------------------


def test_follows_on_a_change_record_is_a_finding() -> None:
    t = _topology()
    cycles, _ = _records(t, [HONEST, HONEST])
    cycles[1]["data"]["body"]["follows"] = None
    found, _ = _messages(*_council(), cycles=cycles)
    assert found == ["record 2: only a reset record's first part names the record before it (body.follows)"]


def test_follows_in_a_later_part_is_a_finding() -> None:
    t = _topology()
    cycles, _ = _records(t, [HONEST])
    second = {**cycles[0], "data": {**cycles[0]["data"], "part": 2, "body": {"follows": None}}}
    cycles[0]["data"]["parts"] = second["data"]["parts"] = 2
    found, _ = _messages(*_council(), cycles=[cycles[0], second])
    assert found == ["record 1: only a reset record's first part names the record before it (body.follows)"]
