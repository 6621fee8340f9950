"""Dataset registry events. They become PUBLIC log entries, so they carry digests and counts, never
sample lists or paths: a version's manifest digest, its shard and sample counts, the licences and the
label; a takedown's request id, the versions it withdrew and the model versions trained on them.

Labels are written as ``str(label)`` (``L2+project:p1``). Lists are capped so that an entry stays
far below the log's 65,535 bytes whatever the dataset's history: at most ``MAX_LISTED`` ids, with the
full count and a SHA-256 over the full sorted list (ids joined by newlines).

A project's (non-public) dataset is redacted: its entries carry ``redacted: true``, an empty
``dataset`` name, and (a takedown) an empty ``reason`` and ``samples_digest``. Version ids, counts,
licences and the label stay: they name no content that the version id does not already commit to.
"""

from __future__ import annotations

from dataclasses import dataclass

from pnyx.core.events import DomainEvent

MAX_LISTED = 200  # ids named in one list of a takedown entry; the count says how many in all


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
    redacted: bool = False  # a project's dataset: ``dataset`` is ""


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
    withdrawn: list[str]  # versions of the dataset that held a removed sample (first MAX_LISTED)
    withdrawn_count: int
    withdrawn_digest: str  # SHA-256 over all of them, sorted, joined by newlines
    affected_models: list[str]  # model versions trained on an affected shard (first MAX_LISTED)
    affected_model_count: int
    affected_models_digest: str  # SHA-256 over all of them, sorted, joined by newlines
    by: str
    redacted: bool = False  # a project's dataset: ``dataset``, ``reason``, ``samples_digest`` are ""
