"""Seed a demo facility through the ordinary services, so every record is also in the log."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from pnyx.identity.model import IssuedToken
from pnyx.wiring import Platform

# (code, name, annual contribution in EUR, population). Illustrative figures, not real budgets.
MEMBER_STATES: tuple[tuple[str, str, int, int], ...] = (
    ("DE", "Germany", 410_000_000, 84_600_000),
    ("FR", "France", 330_000_000, 68_400_000),
    ("IT", "Italy", 250_000_000, 58_900_000),
    ("ES", "Spain", 180_000_000, 48_600_000),
    ("NL", "Netherlands", 120_000_000, 17_900_000),
    ("FI", "Finland", 60_000_000, 5_600_000),
    ("GB", "United Kingdom", 300_000_000, 68_300_000),
    ("CA", "Canada", 170_000_000, 40_100_000),
    ("AU", "Australia", 110_000_000, 27_000_000),
)

# (user name, roles, member state)
USERS: tuple[tuple[str, tuple[str, ...], str | None], ...] = (
    ("olga", ("operator",), None),
    ("dieter", ("delegate",), "DE"),
    ("francoise", ("delegate",), "FR"),
    ("rhea", ("reviewer",), None),
    ("ada", ("researcher",), None),
    ("sam", ("safety-officer",), None),
    ("aud", ("auditor",), None),
)


@dataclass(frozen=True, slots=True, kw_only=True)
class DemoResult:
    seeded: bool
    tokens: tuple[tuple[str, IssuedToken], ...]
    log_entries: int


def seed_demo(platform: Platform, *, accelerators: int = 100_000, seed: int = 0) -> DemoResult:
    """Seed an empty facility. A facility that already has member states is left as it is."""
    if platform.member_states.list():
        return DemoResult(seeded=False, tokens=(), log_entries=platform.log.drain())
    for code, name, euros, population in MEMBER_STATES:
        platform.member_states.admit(
            code=code,
            name=name,
            contribution_minor_units=euros * 100,
            population=population,
            joined_on=date(2026, 1, 1),
        )
    tokens = []
    for name, roles, state in USERS:
        platform.identity.register_user(
            name=name, roles=roles, member_state=state, display_name=name.capitalize()
        )
        tokens.append((name, platform.identity.issue_token(name, label="demo", days=30)))
    platform.inventory.generate(accelerators, seed=seed)
    return DemoResult(seeded=True, tokens=tuple(tokens), log_entries=platform.log.drain())
