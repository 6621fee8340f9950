"""The pure acts on a classification: levels parsed, peaks found, metering only ever escalates."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pnyx.core.errors import Conflict, InvalidInput
from pnyx.core.units import AcceleratorHours
from pnyx.safety import classification as acts
from pnyx.safety.defaults import DEFAULT_POLICY
from pnyx.safety.model import ClassificationStatus, SafetyLevel

NOW = datetime(2026, 11, 25, 9, tzinfo=UTC)
PEAKS = {"H100-SXM": Decimal(989), "GB200": Decimal(2500), "MI300X": Decimal(1307)}


@pytest.mark.parametrize(
    ("text", "level"), [("L3", SafetyLevel.L3), ("l2", SafetyLevel.L2), (" 4 ", SafetyLevel.L4)]
)
def test_levels_are_parsed(text: str, level: SafetyLevel) -> None:
    assert acts.parse_level(text) is level


@pytest.mark.parametrize("text", ["L0", "L5", "", "high", "LL2"])
def test_a_bad_level_names_its_field(text: str) -> None:
    with pytest.raises(InvalidInput) as info:
        acts.parse_level(text)
    assert info.value.field == "level"


def test_peaks_by_name_prefix_or_the_highest() -> None:
    assert acts.peak_of("h100-sxm", PEAKS) == 989
    assert acts.peak_of("H100", PEAKS) == 989
    assert acts.peak_of("TPUv9", PEAKS) == 2500  # unknown: never under-counted


def test_requested_compute() -> None:
    seconds = acts.requested_seconds({"H100": AcceleratorHours(Decimal(1000))})
    assert acts.compute_flop(seconds, PEAKS, DEFAULT_POLICY) == Decimal(1000 * 3600 * 989) * 10**12 * Decimal(
        "0.4"
    )


def test_acts_go_through_the_one_table() -> None:
    c = acts.first("p", SafetyLevel.L2, "why", NOW)
    confirmed = acts.confirmed("sofia", c, NOW)
    with pytest.raises(Conflict):
        acts.confirmed("omar", confirmed, NOW)
    with pytest.raises(Conflict):
        acts.lowered("omar", confirmed, NOW)
    assert acts.raised(SafetyLevel.L4, "omar", confirmed, NOW).decided_by == ("sofia", "omar")


@given(st.lists(st.decimals(min_value=0, max_value=Decimal("1e25"), places=0), max_size=8))
def test_metering_only_ever_escalates(amounts: list[Decimal]) -> None:
    c = acts.first("p", SafetyLevel.L1, "why", NOW)
    total = Decimal(0)
    for amount in amounts:
        total += amount
        after = acts.metered(c, total, DEFAULT_POLICY, NOW)
        assert after.level is c.level
        assert (after.pending_level or SafetyLevel.L1) >= (c.pending_level or SafetyLevel.L1)
        assert after.status in {ClassificationStatus.CONFIRMED, ClassificationStatus.ESCALATED}
        c = after
    assert c.holds_jobs == (total >= Decimal("1e23"))


def test_one_officers_proposal_to_lower_an_unconfirmed_level_keeps_its_jobs_held() -> None:
    proposed = acts.first("p", SafetyLevel.L3, "why", NOW)
    assert proposed.holds_jobs
    lowering = acts.lowering(SafetyLevel.L1, "sam", proposed, NOW)
    assert (lowering.status, lowering.level, lowering.decided_by) == (
        ClassificationStatus.LOWERING,
        SafetyLevel.L3,
        (),
    )
    assert lowering.holds_jobs  # no officer ever confirmed a level: still held
    agreed = acts.lowered("omar", lowering, NOW)
    assert (agreed.level, agreed.holds_jobs) == (SafetyLevel.L1, False)
    kept = acts.lowering_refused("omar", lowering, NOW)
    assert (kept.level, kept.holds_jobs) == (SafetyLevel.L3, False)


def test_a_proposal_to_lower_a_confirmed_level_keeps_its_jobs_running_at_that_level() -> None:
    confirmed = acts.confirmed("sam", acts.first("p", SafetyLevel.L3, "why", NOW), NOW)
    lowering = acts.lowering(SafetyLevel.L2, "omar", confirmed, NOW)
    assert (lowering.level, lowering.holds_jobs) == (SafetyLevel.L3, False)


def test_no_officer_is_listed_twice_among_those_who_decided() -> None:
    confirmed = acts.confirmed("sam", acts.first("p", SafetyLevel.L3, "why", NOW), NOW)
    lowered = acts.lowered("omar", acts.lowering(SafetyLevel.L2, "sam", confirmed, NOW), NOW)
    assert lowered.decided_by == ("sam", "omar")  # not sam, sam, omar
    again = acts.raised(SafetyLevel.L4, "sam", lowered, NOW)
    assert again.decided_by == ("sam", "omar")
    refused = acts.lowering_refused("omar", acts.lowering(SafetyLevel.L3, "sam", again, NOW), NOW)
    assert refused.decided_by == ("sam", "omar")
