"""Typed domain events.

Every state change emits one event in the same transaction (written to the outbox by the
unit of work). The transparency log, accounting and notifications consume them.

An event is a frozen dataclass whose class attribute ``event_type`` names it
(``"<domain>.<thing>.<past-tense verb>"``). Its fields must be JSON-friendly: str, int,
bool, None, lists and dicts of those, or ``datetime`` (encoded as RFC 3339 UTC).
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from enum import Enum
from typing import Any, ClassVar

from pnyx.core.canonical import canonical_json


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class DomainEvent:
    event_type: ClassVar[str] = "event"

    def payload(self) -> dict[str, Any]:
        return {f.name: _plain(getattr(self, f.name)) for f in dataclasses.fields(self)}


def entry_bytes(event: DomainEvent, occurred_at: datetime) -> bytes:
    """The event's public log entry: RFC 8785 canonical JSON of ``{"type", "occurred_at", "data"}``."""
    return canonical_json(
        {"type": event.event_type, "occurred_at": format_time(occurred_at), "data": event.payload()}
    )


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return format_time(value)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


def format_time(value: datetime) -> str:
    """RFC 3339 in UTC with microseconds and a ``Z``: one spelling for one instant."""
    if value.tzinfo is None:
        raise ValueError("naive datetimes are not allowed in events")
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
