"""Core kernel: canonical JSON, events, clock, settings."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from pnyx.core.canonical import canonical_json
from pnyx.core.clock import FrozenClock
from pnyx.core.errors import InvalidInput
from pnyx.core.events import DomainEvent, format_time
from pnyx.core.units import AcceleratorHours
from pnyx.settings import Settings


def test_canonical_json_is_rfc8785() -> None:
    assert canonical_json({"b": 1, "a": [True, None, "é"], "c": {"z": 0, "y": -1}}) == (
        b'{"a":[true,null,"\xc3\xa9"],"b":1,"c":{"y":-1,"z":0}}'
    )
    assert canonical_json({"\u20ac": 1, "\r": 2, "1": 3}) == b'{"\\r":2,"1":3,"\xe2\x82\xac":1}'


def test_event_payload_is_plain() -> None:
    @dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
    class Happened(DomainEvent):
        event_type = "test.thing.happened"
        when: datetime
        items: tuple[str, ...]

    e = Happened(when=datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=2))), items=("a",))
    assert e.payload() == {"when": "2026-01-02T01:04:05.000000Z", "items": ["a"]}
    with pytest.raises(ValueError, match="naive"):
        format_time(datetime(2026, 1, 1))


def test_frozen_clock_moves_only_when_told() -> None:
    clock = FrozenClock(datetime(2026, 1, 1, tzinfo=UTC))
    clock.advance(timedelta(seconds=5))
    assert clock.now() == datetime(2026, 1, 1, 0, 0, 5, tzinfo=UTC)


def test_settings_from_env() -> None:
    s = Settings.from_env({"PNYX_DATA_DIR": "/srv/pnyx", "PNYX_DATABASE_URL": "postgres://u@h/db"})
    assert s.database_url == "postgresql+psycopg://u@h/db"
    assert str(s.log_key_file) == "/srv/pnyx/log-signing.key"
    assert Settings.from_env({}).database_url.endswith("/var/pnyx.db")  # tests/cli/test_first_run_edges.py
    with pytest.raises(InvalidInput, match="PNYX_DATABASE_URL"):
        Settings.from_env({"PNYX_DATABASE_URL": "mysql://x"})
    with pytest.raises(InvalidInput, match="PNYX_PORT"):
        Settings.from_env({"PNYX_PORT": "99999"})


@pytest.mark.parametrize("value", [Decimal(-1), Decimal("-0.5"), Decimal(-(10**40))])
def test_negative_accelerator_hours_are_invalid_input_naming_the_field(value: Decimal) -> None:
    """A domain error every edge translates (the API's 400, the CLI's one line), not a bare ValueError."""
    with pytest.raises(InvalidInput, match="cannot be negative") as caught:
        AcceleratorHours(value)
    assert caught.value.field == "accelerator_hours"
    assert AcceleratorHours(Decimal(0)) + AcceleratorHours(Decimal(2)) == AcceleratorHours(Decimal(2))
