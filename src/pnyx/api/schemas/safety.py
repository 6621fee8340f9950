"""Safety bodies: classifications, the public view of levels, approvers' keys. FLOP are decimal strings."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from pnyx.api.schemas.storable import Str
from pnyx.safety.model import Classification, OfficerKey, SafetyLevel

LevelName = Literal["L1", "L2", "L3", "L4"]


class ClassificationOut(BaseModel):
    project: str
    level: LevelName
    status: str = Field(description="proposed | confirmed | escalated | lowering")
    basis: str = Field(description="Why: the self-assessment and compute that gave the level")
    categories: list[str]
    metered_flop: str = Field(description="Cumulative compute metered so far, FLOP (decimal)")
    decided_by: list[str] = Field(description="Officers who confirmed, raised or lowered it")
    pending_level: LevelName | None = Field(
        description="Escalated: the level metered compute reached; lowering: the level proposed"
    )
    pending_by: str | None = Field(description="Lowering: the officer who proposed it")
    holds_jobs: bool = Field(description="New jobs wait (held_for_safety) until an officer confirms")
    updated_at: datetime

    @classmethod
    def of(cls, c: Classification) -> ClassificationOut:
        return cls(
            project=c.project,
            level=_name(c.level),
            status=c.status.value,
            basis=c.basis,
            categories=sorted(c.categories),
            metered_flop=str(c.metered_flop),
            decided_by=list(c.decided_by),
            pending_level=None if c.pending_level is None else _name(c.pending_level),
            pending_by=c.pending_by,
            holds_jobs=c.holds_jobs,
            updated_at=c.updated_at,
        )


class LevelIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    level: LevelName = Field(description="Raise: above the current level; lower: below it")


class LevelProjectsOut(BaseModel):
    """Public: which projects are classified at a level, and nothing else about them."""

    level: LevelName
    count: int
    projects: list[str]

    @classmethod
    def of(cls, level: SafetyLevel, projects: list[str]) -> LevelProjectsOut:
        return cls(level=_name(level), count=len(projects), projects=projects)


class KeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    public_key: Str = Field(
        min_length=1, max_length=100, description="Base64 of the raw 32-byte Ed25519 public key"
    )


class KeyOut(BaseModel):
    user: str
    key_id: str = Field(description="The first 16 hex digits of SHA-256 of the raw key")
    public_key: str
    registered_at: datetime
    revoked_at: datetime | None

    @classmethod
    def of(cls, k: OfficerKey) -> KeyOut:
        return cls(
            user=k.user,
            key_id=k.key_id,
            public_key=k.public_key,
            registered_at=k.registered_at,
            revoked_at=k.revoked_at,
        )


def _name(level: SafetyLevel) -> LevelName:
    names: dict[SafetyLevel, LevelName] = {
        SafetyLevel.L1: "L1",
        SafetyLevel.L2: "L2",
        SafetyLevel.L3: "L3",
        SafetyLevel.L4: "L4",
    }
    return names[level]
