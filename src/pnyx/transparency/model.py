"""Transparency log records."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class LogEntry:
    index: int
    event_type: str
    data: bytes  # canonical JSON of {"type", "occurred_at", "data"}; hashed as the Merkle leaf
    appended_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class SignedCheckpoint:
    size: int
    root: bytes
    note: str  # the C2SP signed note, byte for byte as served at /log/checkpoint
    signed_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class AppendResult:
    appended: int
    size: int
    checkpoint: SignedCheckpoint | None
