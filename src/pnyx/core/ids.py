"""Typed identifiers. Each is a NewType over str so that mypy keeps them apart."""

from __future__ import annotations

import secrets
from typing import NewType

UserId = NewType("UserId", str)
TokenId = NewType("TokenId", str)
MemberStateCode = NewType("MemberStateCode", str)
SiteId = NewType("SiteId", str)
PodId = NewType("PodId", str)
NodeId = NewType("NodeId", str)
EventId = NewType("EventId", str)


def new_id(prefix: str) -> str:
    """A random, URL-safe id with a readable prefix, for example ``usr_3fa9c2d41b7e``."""
    return f"{prefix}_{secrets.token_hex(6)}"
