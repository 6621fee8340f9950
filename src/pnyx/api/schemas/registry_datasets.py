"""Dataset registry bodies. Labels are written as the log writes them (``L2+project:p1``)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from pnyx.api.schemas.storable import Str
from pnyx.registry import rules
from pnyx.registry.model import DatasetVersion, Shard, Source, Takedown

MAX_TAKEDOWN_SAMPLES = 10_000


class ShardOut(BaseModel):
    index: int
    name: str
    sha256: str
    size: int
    samples: int

    @classmethod
    def of(cls, s: Shard) -> ShardOut:
        return cls(index=s.index, name=s.name, sha256=s.sha256, size=s.size, samples=s.samples)


class SourceOut(BaseModel):
    name: str
    licence: str = Field(description="SPDX licence expression")
    origin: str
    opt_out: list[str] = Field(description="Opt-out signals seen at collection time")
    reserved: bool = Field(description="An opt-out signal reserves AI/TDM use: its samples are left out")

    @classmethod
    def of(cls, s: Source) -> SourceOut:
        reserved = rules.reservation(s) is not None
        return cls(
            name=s.name, licence=s.licence, origin=s.origin, opt_out=list(s.opt_out), reserved=reserved
        )


class DatasetVersionOut(BaseModel):
    dataset: str
    version: str = Field(description="RFC 6962 Merkle root over the shards' SHA-256 digests")
    parent: str | None
    status: str = Field(description="current | superseded | withdrawn")
    successor: str | None = Field(description="The version a takedown made from this one")
    label: str
    project: str | None
    samples: int
    bytes: int
    modalities: list[str]
    manifest_sha256: str
    tombstones: int = Field(description="Samples left out by opt-outs and takedowns")
    created_at: datetime
    created_by: str
    description: str
    shards: list[ShardOut]
    sources: list[SourceOut]

    @classmethod
    def of(cls, v: DatasetVersion) -> DatasetVersionOut:
        return cls(
            dataset=v.dataset,
            version=v.version,
            parent=v.parent,
            status=v.status.value,
            successor=v.successor,
            label=str(v.label),
            project=v.project,
            samples=v.samples,
            bytes=v.size,
            modalities=sorted(m.value for m in v.modalities),
            manifest_sha256=v.manifest_sha256,
            tombstones=len(v.tombstones),
            created_at=v.created_at,
            created_by=v.created_by,
            description=v.description,
            shards=[ShardOut.of(s) for s in v.shards],
            sources=[SourceOut.of(s) for s in v.sources],
        )


class ImportOut(BaseModel):
    created: bool = Field(description="False: the same samples were registered already as this version")
    left_out: int = Field(description="Samples tombstoned by opt-out signals or earlier takedowns")
    version: DatasetVersionOut


class TakedownIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: Str = Field(min_length=1, max_length=rules.MAX_REASON, description="Public, in the log")
    origin: Str | None = Field(
        default=None, min_length=1, max_length=rules.MAX_ORIGIN, description="Every sample from this origin"
    )
    samples: list[str] = Field(
        default_factory=list,
        max_length=MAX_TAKEDOWN_SAMPLES,
        description="Sample SHA-256 digests (64 lower-case hex digits each)",
    )


class TakedownOut(BaseModel):
    id: str
    dataset: str
    origin: str | None
    samples: list[str]
    reason: str
    requested_by: str
    requested_at: datetime
    from_version: str
    to_version: str | None = Field(description="The new version; null when nothing was left")
    removed: int
    withdrawn: list[str] = Field(description="Versions that held a removed sample: no longer served")
    affected_models: list[str] = Field(description="Model versions trained on an affected shard")

    @classmethod
    def of(cls, t: Takedown) -> TakedownOut:
        return cls(
            id=t.id,
            dataset=t.dataset,
            origin=t.origin,
            samples=list(t.samples),
            reason=t.reason,
            requested_by=t.requested_by,
            requested_at=t.requested_at,
            from_version=t.from_version,
            to_version=t.to_version,
            removed=t.removed,
            withdrawn=list(t.withdrawn),
            affected_models=list(t.affected_models),
        )
