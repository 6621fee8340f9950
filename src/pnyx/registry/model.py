"""Registry records: datasets, their versions and shards (frozen dataclasses, no I/O).

A dataset version is named by the RFC 6962 Merkle root (hex) over its shards' SHA-256 digests, in
manifest order (``rules.version_id``): the same samples in the same shards give the same id.
Trained models and their lineage are ``lineage_model``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from pnyx.safety.model import Label

MANIFEST_FORMAT = "pnyx.dataset/1"
MANIFEST_NAME = "manifest.json"  # beside the shard tars in a version's directory


class Modality(StrEnum):
    TEXT = "text"  # <key>.txt, UTF-8
    CODE = "code"  # <key>.code, UTF-8 source
    IMAGE = "image"  # <key>.pgm, binary PGM (P5), 8-bit grey
    AUDIO = "audio"  # <key>.wav, 16-bit mono PCM


PAYLOAD_EXTENSION = {
    Modality.TEXT: "txt",
    Modality.CODE: "code",
    Modality.IMAGE: "pgm",
    Modality.AUDIO: "wav",
}


class VersionStatus(StrEnum):
    """Where a version stands (``rules.version_next`` is the one transition table)."""

    CURRENT = "current"  # the dataset's newest version
    SUPERSEDED = "superseded"  # a newer import of the dataset exists; jobs may still name it
    WITHDRAWN = "withdrawn"  # a takedown removed samples from it: no new job may read it


class VersionAction(StrEnum):
    SUPERSEDE = "supersede"
    WITHDRAW = "withdraw"
    REINSTATE = "reinstate"


@dataclass(frozen=True, slots=True, kw_only=True)
class Sample:
    """One sample of a version: its payload's SHA-256, where it sits, and where it came from."""

    sha256: str
    modality: Modality
    source: str
    size: int  # payload bytes
    shard: int = 0  # the shard's index in the manifest
    position: int = 0  # its place in that shard


@dataclass(frozen=True, slots=True, kw_only=True)
class Source:
    """Where samples came from, as seen at collection time."""

    name: str  # the import directory's sub-directory
    licence: str  # an SPDX identifier or expression
    origin: str  # a URL or a description of where it was collected
    opt_out: tuple[str, ...] = ()  # opt-out signals seen when collected (robots.txt, TDM-Rep, ai.txt ...)


@dataclass(frozen=True, slots=True, kw_only=True)
class Shard:
    """One WebDataset tar of the version: ``shard-NNNNNN.tar``, content-addressed by ``sha256``."""

    index: int
    name: str
    sha256: str
    size: int  # bytes
    samples: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Tombstone:
    """A sample left out of a version by an opt-out or takedown; it stays listed, with the reason."""

    sample_sha256: str
    source: str
    reason: str
    request: str  # the takedown request's id


@dataclass(frozen=True, slots=True, kw_only=True)
class DatasetVersion:
    dataset: str  # the dataset's name
    version: str  # Merkle root over the shards (hex)
    parent: str | None  # the version this one was derived from (a takedown), if any
    shards: tuple[Shard, ...]
    sources: tuple[Source, ...]
    tombstones: tuple[Tombstone, ...] = ()
    label: Label
    created_at: datetime
    created_by: str
    description: str = ""
    modalities: frozenset[Modality] = field(default_factory=frozenset)
    project: str | None = None  # the project it was imported into; None: a public dataset
    status: VersionStatus = VersionStatus.CURRENT
    manifest_sha256: str = ""  # of manifest.json's exact bytes
    successor: str | None = None  # the version a takedown made from this one

    @property
    def samples(self) -> int:
        return sum(s.samples for s in self.shards)

    @property
    def size(self) -> int:
        """Bytes in all shards."""
        return sum(s.size for s in self.shards)


@dataclass(frozen=True, slots=True, kw_only=True)
class Takedown:
    """A request to leave samples out (by origin or by sample hash), as applied."""

    id: str
    dataset: str
    origin: str | None  # every sample from sources with this origin
    samples: tuple[str, ...]  # or these sample hashes
    reason: str
    requested_by: str
    requested_at: datetime
    from_version: str
    to_version: str | None  # None: nothing was left
    removed: int
    withdrawn: tuple[str, ...]  # every version of the dataset that held a removed sample
    affected_models: tuple[str, ...]  # model versions trained on a shard that held one


@dataclass(frozen=True, slots=True, kw_only=True)
class Dataset:
    """A named dataset: its versions share the name; ``current`` is the one new jobs should read."""

    name: str
    project: str | None  # None: public (imported by an operator)
    current: str | None  # None once a takedown left nothing
    created_at: datetime
    created_by: str
