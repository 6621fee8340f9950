"""Writing dataset versions, shared by imports and takedowns: sealing shards into a version (its id
and stored manifest), making its directory, stepping a version's status, and its creation event.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from pnyx.core.errors import Conflict, NotFound, Unavailable
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
        """``<root>/<version>/``: manifest.json and the shard tars (made once, atomically;
        Unavailable naming the first file whose blob is gone)."""
        files = {s.name: s.sha256 for s in v.shards} | {MANIFEST_NAME: v.manifest_sha256}
        target = self.root / v.version
        if not target.is_dir():
            for name, sha256 in files.items():
                self.stored(v, name, sha256)
        return link_tree(self.blobs, target, files)

    def remove(self, version: str) -> None:
        """Remove ``<root>/<version>/`` (a withdrawn version: staging it then fails closed); the
        blobs stay, other versions may share them."""
        target = self.root / rules.check_version(version)
        if target.is_symlink() or not target.is_dir():
            return
        gone = Path(tempfile.mkdtemp(dir=self.root, prefix=f".{version}-gone-"))
        os.rename(target, gone / version)  # at once: the version's path is absent from here on
        shutil.rmtree(gone)

    def stored(self, v: DatasetVersion, name: str, sha256: str) -> Path:
        """The blob of ``v``'s file ``name``. One that is gone is the facility's loss, not the
        caller's mistake: Unavailable (503) naming the version and the file."""
        if not self.blobs.has(sha256):
            raise Unavailable(
                f"dataset version {v.version} ({v.dataset}) is registered, but its file {name} (SHA-256 "
                f"{sha256}) is missing from this server's blob store; an operator must restore it "
                f"(`pnyx registry dataset verify {v.version}` checks every file)",
                field="version",
                code="dataset_files_missing",
            )
        return self.blobs.path(sha256)


def flat(groups: Sequence[Sequence[Sample]]) -> list[Sample]:
    return [sample for group in groups for sample in group]


def check_same_dataset(existing: DatasetVersion, dataset: str) -> None:
    """The same samples in the same shards are one version (its id is their Merkle root), so they
    cannot be registered under a second name. The answer names neither the other dataset nor the
    version: the caller may not be allowed to read them (the version id is in the public log anyway,
    and whoever holds the content can compute it)."""
    if existing.dataset != dataset:
        raise Conflict(
            "these samples, in these shards, are registered already under another dataset name; "
            "import them under that dataset, or shard them differently (shard_samples)",
            field="name",
            code="samples_registered",
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
        dataset="" if v.project is not None else v.dataset,
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
        redacted=v.project is not None,
    )
