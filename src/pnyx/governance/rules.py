"""Pure governance rules for member states."""

from __future__ import annotations

import re
from collections.abc import Iterable
from decimal import Decimal

from pnyx.core.errors import InvalidInput
from pnyx.governance.model import MemberState

ISO_ALPHA2 = re.compile(r"^[A-Z]{2}$")


def validate_code(code: str) -> str:
    upper = code.strip().upper()
    if not ISO_ALPHA2.match(upper):
        raise InvalidInput(
            f"a member state code is ISO 3166-1 alpha-2 (two letters); got {code!r}", field="code"
        )
    return upper


def validate_contribution(minor_units: int) -> int:
    if minor_units < 0:
        raise InvalidInput("a contribution cannot be negative", field="contribution")
    return minor_units


def contribution_shares(states: Iterable[MemberState]) -> dict[str, Decimal]:
    """Each state's share of total contributions (the default entitlement formula)."""
    states = list(states)
    total = sum(s.contribution.minor_units for s in states)
    if total == 0:
        return {s.code: Decimal(0) for s in states}
    return {s.code: Decimal(s.contribution.minor_units) / Decimal(total) for s in states}
