"""Canonical JSON (RFC 8785, JSON Canonicalization Scheme).

Log entries are hashed, so their bytes must not depend on dict order or float formatting.
"""

from __future__ import annotations

import json
from typing import Any

import rfc8785


def canonical_json(value: Any) -> bytes:
    """Encode ``value`` as RFC 8785 canonical JSON bytes (UTF-8, sorted keys, no spaces)."""
    return bytes(rfc8785.dumps(value))


def parse_json(data: bytes) -> Any:
    return json.loads(data)
