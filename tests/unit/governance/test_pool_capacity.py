"""What the council's pool split gives each capacity pool, in accelerator-hours a year."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from fractions import Fraction

from hypothesis import given
from hypothesis import strategies as st

from pnyx.core.units import AcceleratorHours
from pnyx.governance.entitlements import as_decimal
from pnyx.governance.policy import (
    DEFAULT_POOL_SPLIT,
    Policy,
    PolicyKind,
    Pool,
    SetPoolSplit,
    effect_data,
)
from pnyx.governance.rules import HOURS_PER_YEAR, pool_capacity, pool_limit

SPLIT = SetPoolSplit(
    member_pools=Fraction(1, 2),
    open_calls=Fraction(3, 10),
    sme=Fraction(1, 10),
    directors_reserve=Fraction(1, 10),
)
SHARES = {"DE": Decimal("0.25"), "FR": Decimal("0.75")}


def _fractions(weights: list[int]) -> list[Fraction]:
    total = sum(weights)
    return [Fraction(w, total) for w in weights]


splits = (
    st.lists(st.integers(0, 1000), min_size=4, max_size=4)
    .filter(any)
    .map(lambda w: SetPoolSplit(**dict(zip([p.value for p in Pool], _fractions(w), strict=True))))
)
member_shares = (
    st.lists(st.integers(0, 1000), min_size=1, max_size=27)
    .filter(any)
    .map(lambda w: as_decimal({f"S{i:02d}": f for i, f in enumerate(_fractions(w))}))
)
accelerators = st.integers(0, 200_000)


def _adopted(split: SetPoolSplit) -> Policy:
    when = datetime(2026, 1, 1, tzinfo=UTC)
    content = effect_data(split)
    assert content is not None
    return Policy(
        id="pol_1",
        kind=PolicyKind.POOL_SPLIT,
        subject="",
        version=1,
        effective_from=when,
        content=content,
        motion_id="mot_1",
        adopted_at=when,
    )


def test_a_pool_gets_its_share_of_every_accelerator_all_year() -> None:
    assert pool_capacity(SPLIT, Pool.OPEN_CALLS, accelerators=1000) == AcceleratorHours(Decimal(2_628_000))
    assert pool_capacity(SPLIT, Pool.MEMBER_POOLS, accelerators=1000) == AcceleratorHours(Decimal(4_380_000))


def test_a_member_states_pool_is_its_entitlement_of_the_member_pools() -> None:
    de = pool_capacity(SPLIT, Pool.MEMBER_POOLS, accelerators=1000, member_state="DE", member_shares=SHARES)
    assert de == AcceleratorHours(Decimal(1_095_000))  # 1000 x 8760 x 1/2 x 1/4


def test_a_state_without_an_entitlement_has_an_empty_pool() -> None:
    nl = pool_capacity(SPLIT, Pool.MEMBER_POOLS, accelerators=1000, member_state="NL", member_shares=SHARES)
    assert nl == AcceleratorHours(Decimal(0))


def test_shares_are_exact_fractions_and_only_the_result_is_rounded_down() -> None:
    thirds = SetPoolSplit(
        member_pools=Fraction(1, 3),
        open_calls=Fraction(1, 3),
        sme=Fraction(1, 3),
        directors_reserve=Fraction(0),
    )
    assert pool_capacity(thirds, Pool.SME, accelerators=1).value == 2920  # not 2919.99... as decimals
    sevenths = SetPoolSplit(
        member_pools=Fraction(6, 7), open_calls=Fraction(1, 7), sme=Fraction(0), directors_reserve=Fraction(0)
    )
    assert pool_capacity(sevenths, Pool.OPEN_CALLS, accelerators=1).value == 1251  # 8760 / 7 = 1251.43


def test_by_default_the_member_pools_hold_everything() -> None:
    assert pool_capacity(DEFAULT_POOL_SPLIT, Pool.MEMBER_POOLS, accelerators=8).value == 8 * HOURS_PER_YEAR
    assert pool_capacity(DEFAULT_POOL_SPLIT, Pool.OPEN_CALLS, accelerators=8).value == 0


def test_no_limit_until_the_council_adopts_a_split() -> None:
    assert pool_limit(None, Pool.OPEN_CALLS, accelerators=1000) is None
    assert pool_limit(_adopted(SPLIT), Pool.OPEN_CALLS, accelerators=1000) == pool_capacity(
        SPLIT, Pool.OPEN_CALLS, accelerators=1000
    )


@given(splits, member_shares, accelerators)
def test_the_pools_never_hold_more_than_the_facility(
    split: SetPoolSplit, shares: dict[str, Decimal], count: int
) -> None:
    facility = count * HOURS_PER_YEAR
    calls = [pool_capacity(split, p, accelerators=count).value for p in Pool if p is not Pool.MEMBER_POOLS]
    states = [
        pool_capacity(
            split, Pool.MEMBER_POOLS, accelerators=count, member_state=s, member_shares=shares
        ).value
        for s in shares
    ]
    total = sum(calls) + sum(states)
    assert total <= facility
    assert total > facility - len(calls) - len(states) - 1  # each pool loses less than an hour to rounding


@given(splits, member_shares, accelerators, st.sampled_from(list(Pool)))
def test_a_state_never_gets_more_than_the_member_pools_and_more_hardware_never_less(
    split: SetPoolSplit, shares: dict[str, Decimal], count: int, pool: Pool
) -> None:
    whole = pool_capacity(split, Pool.MEMBER_POOLS, accelerators=count)
    for state in shares:
        own = pool_capacity(
            split, Pool.MEMBER_POOLS, accelerators=count, member_state=state, member_shares=shares
        )
        assert own <= whole
    assert pool_capacity(split, pool, accelerators=count) <= pool_capacity(
        split, pool, accelerators=count + 1
    )
