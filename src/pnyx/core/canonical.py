"""Canonical JSON (RFC 8785, JSON Canonicalization Scheme).

Log entries are hashed, so their bytes must not depend on dict order or float formatting.

The bytes are the ``rfc8785`` package's, always. It is pure Python (one call and one write per
value), so a value first goes through a check (``_plain``) that proves the standard library's C
encoder (``json``: sorted keys, no spaces, no ASCII escaping) writes the same bytes for it, and
anything the check cannot prove goes to ``rfc8785`` itself: its bytes, or its error. The C encoder
writes what RFC 8785 writes for:

- ``None``, ``True``, ``False``, and exact ``str``: the same escapes (``\\"``, ``\\\\``, ``\\b \\f \\n
  \\r \\t``, other controls as ``\\u00xx`` in lower case, nothing else escaped); a lone surrogate
  fails the UTF-8 encoding, and ``rfc8785`` then decides;
- exact ``int`` within +-(2**53 - 1) (``rfc8785`` refuses the others): the decimal digits;
- exact ``float``: integral ones within +-(2**53 - 1) become ``int`` first (ECMAScript writes
  ``100`` and ``0`` where Python writes ``100.0`` and ``-0.0``; below 2**53 the shortest digits
  that round-trip are the integer's own); the others between 1e-4 and 1e16 in magnitude, where
  Python's ``repr`` (what the C encoder writes) and ECMAScript's ``Number::toString`` both write
  the shortest round-trip digits without an exponent; the rest (exponents, NaN, infinities) are
  not proven;
- exact ``list`` and ``tuple``: an array;
- exact ``dict`` whose keys are exact ``str`` below U+E000: code-point order (the C encoder's sort)
  is then UTF-16 code-unit order (RFC 8785's), as no key holds a surrogate pair or a character
  from U+E000 up, where the two orders part.

The check builds the value the C encoder is given (integral floats as ints); subclasses (an
``IntEnum``, a ``StrEnum``) and any other type go to ``rfc8785``. ``tests/unit/core/
test_canonical.py`` compares the two on generated values; ``benchmarks/canonical_json.py`` times
them.
"""

from __future__ import annotations

import json
from typing import Any

import rfc8785

_SAFE = 2**53 - 1  # the largest integer RFC 8785 (I-JSON) accepts, and rfc8785 with it


class _Unproven(Exception):
    """The value holds something the C encoder is not proven to write as RFC 8785 does."""


def canonical_json(value: Any) -> bytes:
    """Encode ``value`` as RFC 8785 canonical JSON bytes (UTF-8, sorted keys, no spaces): the bytes
    of ``rfc8785.dumps``, and its error for a value it refuses."""
    try:
        return _c_encoded(_plain(value))
    except (_Unproven, ValueError, RecursionError):
        return bytes(rfc8785.dumps(value))


def parse_json(data: bytes) -> Any:
    return json.loads(data)


def _c_encoded(plain: Any) -> bytes:
    """The C encoder's bytes for a value ``_plain`` built (fresh, acyclic containers)."""
    text = json.dumps(
        plain,
        ensure_ascii=False,
        check_circular=False,
        allow_nan=False,
        sort_keys=True,
        separators=(",", ":"),
    )
    return text.encode("utf-8")  # a lone surrogate raises UnicodeEncodeError (a ValueError)


def _plain(value: Any) -> Any:
    """``value`` as the C encoder is to be given it; raises ``_Unproven`` on anything else."""
    kind = type(value)
    if kind is int:
        if -_SAFE <= value <= _SAFE:
            return value
        raise _Unproven
    if kind is str or kind is bool or value is None:
        return value
    if kind is list or kind is tuple:
        return [_plain(v) for v in value]
    if kind is float:
        return _number(value)
    if kind is dict:
        return _object(value)
    raise _Unproven


def _number(value: float) -> int | float:
    """An integral float as its int; a float written without an exponent as itself."""
    if value.is_integer():
        if -_SAFE <= value <= _SAFE:
            return int(value)
    elif 1e-4 <= abs(value) < 1e16:  # NaN compares false
        return value
    raise _Unproven


def _object(value: dict[Any, Any]) -> dict[str, Any]:
    """The dict with its values made plain, if its keys are exact ``str`` below U+E000."""
    plain = {k: _plain(v) for k, v in value.items() if type(k) is str}
    keys = "".join(plain)
    if len(plain) == len(value) and (keys.isascii() or max(keys) < "\ue000"):
        return plain
    raise _Unproven
