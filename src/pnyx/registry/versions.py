"""Writing dataset versions, shared by imports and takedowns: sealing shards into a version (its id
and stored manifest), making its directory, stepping a version's status, and its creation event.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from pnyx.core.errors import Conflict, NotFound
from pnyx.registry import rules
from pnyx.registry.blobs import BlobStore, link_tree
from pnyx.registry.events import DatasetVersionCreated
from pnyx.registry.model import MANIFEST_NAME, DatasetVersion, Sample, Shard, VersionAction, VersionStatus
from pnyx.registry.store import DatasetRepository


class VersionWriter:
    """Version files: shards and manifests in the blob store, and ``<root>/<version>/`` linking them."""

    def __init__(self, blobs: BlobStore) -> None:
        self.blobs = blobs
        self.root = blobs.root / "datasets"

    def seal(self, template: DatasetVersion, stored: Sequence[Shard]) -> DatasetVersion:
        """The template with its shards, its version id (their Merkle root) and its stored manifest."""
        version = rules.version_id([s.sha256 for s in stored])
        manifest = self.blobs.put_bytes(rules.manifest(template.dataset, version, stored))
        return replace(template, version=version, shards=tuple(stored), manifest_sha256=manifest.sha256)

    def materialise(self, v: DatasetVersion) -> Path:
        """``<root>/<version>/``: manifest.json and the shard tars (made once, atomically)."""
        files = {s.name: s.sha256 for s in v.shards} | {MANIFEST_NAME: v.manifest_sha256}
        return link_tree(self.blobs, self.root / v.version, files)


def flat(groups: Sequence[Sequence[Sample]]) -> list[Sample]:
    return [sample for group in groups for sample in group]


def check_same_dataset(existing: DatasetVersion, dataset: str) -> None:
    if existing.dataset != dataset:
        raise Conflict(
            f"these samples are registered already: version {existing.version} of dataset {existing.dataset}",
            field="name",
        )


def act(
    repo: DatasetRepository,
    version: str,
    action: VersionAction,
    successor: str | None,
    *,
    skip: VersionStatus | None = None,
) -> None:
    found = repo.version(version, for_update=True)
    if found is None:
        raise NotFound(f"no dataset version {version}", field="version")
    if found.status is not skip:
        repo.set_status(version, rules.version_next(found.status, action), successor)


def created_event(v: DatasetVersion, samples: Sequence[Sample]) -> DatasetVersionCreated:
    contributing = {s.source for s in samples}
    return DatasetVersionCreated(
        dataset=v.dataset,
        version=v.version,
        parent=v.parent,
        shards=len(v.shards),
        samples=v.samples,
        bytes=v.size,
        manifest_sha256=v.manifest_sha256,
        licences=sorted({s.licence for s in v.sources if s.name in contributing}),
        label=str(v.label),
        tombstones=len(v.tombstones),
        by=v.created_by,
    )
