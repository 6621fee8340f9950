"""Dataset registry events. They become PUBLIC log entries, so they carry digests and counts, never
sample lists or paths: a version's manifest digest, its shard and sample counts, the licences and the
label; a takedown's request id, the versions it withdrew and the model versions trained on them.

Labels are written as ``str(label)`` (``L2+project:p1``).
"""

from __future__ import annotations

from dataclasses import dataclass

from pnyx.core.events import DomainEvent

MAX_LISTED = 200  # model versions named in one takedown entry; the count says how many in all


@dataclass(frozen=True, slots=True, kw_only=True)
class DatasetVersionCreated(DomainEvent):
    event_type = "registry.dataset.version_created"
    dataset: str
    version: str  # the Merkle root over the shards' digests
    parent: str | None
    shards: int
    samples: int
    bytes: int
    manifest_sha256: str
    licences: list[str]  # SPDX expressions, one per source that contributed samples
    label: str
    tombstones: int  # samples left out (opt-outs at import, takedowns inherited from the parent)
    by: str


@dataclass(frozen=True, slots=True, kw_only=True)
class DatasetTakedownApplied(DomainEvent):
    event_type = "registry.dataset.takedown_applied"
    request_id: str
    dataset: str
    from_version: str
    to_version: str | None  # None: nothing was left
    removed: int
    reason: str
    by_origin: bool  # the request named an origin (else sample hashes only)
    samples_digest: str  # SHA-256 over the sorted sample hashes named ("" when none)
    withdrawn: list[str]  # versions of the dataset that held a removed sample
    affected_models: list[str]  # model versions trained on an affected shard (first MAX_LISTED)
    affected_model_count: int
    by: str
