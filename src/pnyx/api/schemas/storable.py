"""Request types every schema shares: what both databases can store, refused at the edge as a 422.

PostgreSQL refuses a NUL character in text and neither database stores a lone surrogate; both hold
64-bit integers; times are timezone-aware and between 1970 and 2999 (so no arithmetic on them
overflows). A value outside these answers 422 naming its field, never a 500 from the database.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Annotated, Any

from annotated_types import MaxLen
from pydantic import AfterValidator, AwareDatetime, Field

from pnyx.governance.policy import MAX_BUDGET

MAX_INT = 2**63 - 1  # the largest integer both databases store
MAX_HOURS = int(MAX_BUDGET)  # accelerator-hours: the bound the domain keeps (far inside 64 bits)
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(3000, 1, 1, tzinfo=UTC)


def storable(text: str) -> str:
    """Text both databases store as given: no NUL character, no lone surrogate."""
    if "\x00" in text:
        raise ValueError("text cannot hold a NUL character (\\u0000)")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("text is not valid Unicode (it holds a lone surrogate)") from None
    return text


def storable_json(value: Any, at: str = "") -> Any:
    """Every key and string inside a JSON value is storable text; the message names where."""
    if isinstance(value, str):
        _storable_at(value, at)
    elif isinstance(value, Mapping):
        for key, item in value.items():
            _storable_at(str(key), at)
            storable_json(item, f"{at}.{key}" if at else str(key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            storable_json(item, f"{at}[{i}]")
    return value


def _storable_at(text: str, at: str) -> None:
    try:
        storable(text)
    except ValueError as exc:
        raise ValueError(f"{exc} at {at}" if at else str(exc)) from None


def in_range(value: datetime) -> datetime:
    if not EARLIEST <= value < LATEST:
        raise ValueError("a time is between 1970-01-01 and 2999-12-31 (UTC)")
    return value


def day_in_range(value: date) -> date:
    if not EARLIEST.date() <= value < LATEST.date():
        raise ValueError("a date is between 1970-01-01 and 2999-12-31")
    return value


Str = Annotated[str, AfterValidator(storable)]
Ref = Annotated[str, MaxLen(200), AfterValidator(storable)]  # an id or a name in a path or a query
JsonObject = Annotated[dict[str, Any], AfterValidator(storable_json)]
Instant = Annotated[AwareDatetime, AfterValidator(in_range)]
Day = Annotated[date, AfterValidator(day_in_range)]
Int64 = Annotated[int, Field(ge=-MAX_INT - 1, le=MAX_INT)]
Count = Annotated[int, Field(ge=0, le=MAX_INT)]
Hours = Annotated[int, Field(ge=0, le=MAX_HOURS, description="Whole accelerator-hours")]
