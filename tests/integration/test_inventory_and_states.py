"""Inventory and member-state stores on both databases."""

from __future__ import annotations

import pytest

from pnyx.core.errors import Conflict, InvalidInput, NotFound
from pnyx.governance.rules import contribution_shares
from pnyx.wiring import Platform


def test_generate_store_and_load(platform: Platform) -> None:
    summary = platform.inventory.generate(2000, seed=3)
    assert summary.accelerators == 2000
    loaded = platform.inventory.facility()
    assert loaded.accelerator_count == 2000
    assert platform.inventory.summary() == summary
    with pytest.raises(Conflict):
        platform.inventory.generate(1000)
    assert platform.inventory.generate(1000, replace=True).accelerators == 1000
    assert platform.log.drain() == 2


def test_empty_inventory_is_a_clear_error(platform: Platform) -> None:
    with pytest.raises(NotFound, match="inventory generate"):
        platform.inventory.summary()


def test_member_states(platform: Platform) -> None:
    platform.member_states.admit(code="de", name="Germany", contribution_minor_units=300, population=84)
    platform.member_states.admit(code="FR", name="France", contribution_minor_units=100, population=68)
    states = platform.member_states.list()
    assert [s.code for s in states] == ["DE", "FR"]
    assert contribution_shares(states) == {"DE": 0.75, "FR": 0.25}
    platform.member_states.set_contribution("FR", 300)
    assert contribution_shares(platform.member_states.list())["FR"] == 0.5
    with pytest.raises(InvalidInput):
        platform.member_states.admit(code="DEU", name="X", contribution_minor_units=1, population=1)
    with pytest.raises(Conflict):
        platform.member_states.admit(code="DE", name="Germany", contribution_minor_units=1, population=1)
    with pytest.raises(InvalidInput):
        platform.member_states.admit(code="XX", name="X", contribution_minor_units=-1, population=1)
    assert platform.log.drain() == 3
