"""Numbers in rule files and effects, checked as text before any arithmetic touches them.

``Fraction("1e-100000000")`` computes a power of ten with a hundred million digits, so a number is
refused unless it is short and plainly written: digits with an optional point and a short exponent,
or ``a/b``. JSON and TOML numbers arrive as ``int`` or ``float`` and are checked the same way.
"""

from __future__ import annotations

import re
from typing import Any

from pnyx.core.errors import InvalidInput

MAX_CHARS = 60
_PLAIN = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d{1,3})?|[+-]?\d+/\d+", re.ASCII)


def plain_number(value: Any, field: str, *, expected: str) -> str:
    """The text of a number or a numeric string; ``InvalidInput`` naming ``field`` for anything else."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise InvalidInput(f"expected {expected}; got {value!r}", field=field)
    if isinstance(value, int) and abs(value) >= 10**MAX_CHARS:
        raise InvalidInput(f"expected {expected}; got a number of more than {MAX_CHARS} digits", field=field)
    text = value.strip() if isinstance(value, str) else str(value)
    if len(text) > MAX_CHARS or not _PLAIN.fullmatch(text):
        raise InvalidInput(f"expected {expected}; got {_short(value)}", field=field)
    return text


def _short(value: Any) -> str:
    shown = repr(value)
    return shown if len(shown) <= MAX_CHARS else shown[: MAX_CHARS - 3] + "..."
