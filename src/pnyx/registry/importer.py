"""An import directory made into shards, with no database: every file checked, the samples that a
source's opt-out or an earlier takedown of the dataset covers left out (each tombstoned once), the
rest deduplicated, placed, and written as shard tars into the blob store.

``DatasetService.import_directory`` registers what ``scan`` and ``store`` make. ``write_version``
makes a version's directory (manifest.json and the shard tars, as a job reads it) the same way with
no registry at all: a benchmark's or a tool's dataset, byte for byte the version an import of the
same directory would register.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from pnyx.core.errors import InvalidInput
from pnyx.registry import rules, shards
from pnyx.registry.blobs import BlobStore
from pnyx.registry.model import DatasetVersion, Sample, Shard, Source, Takedown, Tombstone
from pnyx.registry.versions import VersionWriter, flat
from pnyx.safety.model import Label, SafetyLevel

IMPORT_REQUEST = "import"  # the request id of tombstones made by opt-outs seen at import
PUBLIC = Label(level=SafetyLevel.L1)


@dataclass(frozen=True, slots=True)
class Scanned:
    """An import directory, read and checked: its sources, the samples kept (placed in shards, in
    order) and the tombstones of those left out."""

    sources: tuple[Source, ...]
    placed: tuple[Sample, ...]
    tombstones: tuple[Tombstone, ...]
    paths: dict[str, Path]  # a sample's file, by its hash


def scan(
    directory: Path,
    *,
    shard_samples: int,
    earlier: Sequence[Takedown] = (),
    removed: Mapping[str, str] | None = None,
    progress: shards.Progress | None = None,
) -> Scanned:
    """Every file checked and hashed (InvalidInput naming the first fault, by its path inside the
    directory); nothing is written. ``removed``: the hashes earlier takedowns removed (their ids)."""
    sources = shards.read_sources(directory)
    found = shards.scan(directory, sources, progress)
    kept, tombstones = left_out(found, sources, earlier, removed or {})
    placed = flat(rules.plan_shards(rules.deduplicate(kept), shard_samples))
    if not placed:
        raise InvalidInput(
            f"the import directory holds no sample to import ({len(tombstones)} opted out or taken down)",
            field="directory",
        )
    paths = {f.sample.sha256: f.path for f in found}
    return Scanned(sources, tuple(placed), tombstones, paths)


def store(blobs: BlobStore, scanned: Scanned, shard_samples: int) -> list[Shard]:
    """The kept samples written as shard tars into ``blobs``, each file read again and checked."""
    return shards.store_shards(blobs, payloads(scanned.placed, scanned.paths), shard_samples)


def write_version(
    directory: Path,
    registry: Path,
    *,
    name: str,
    now: datetime,
    shard_samples: int = rules.DEFAULT_SHARD_SAMPLES,
) -> Path:
    """``<registry>/datasets/<version>/`` for the samples in ``directory`` (blobs under
    ``registry``), registered nowhere: the directory a job would read for that import."""
    rules.check_name(name)
    rules.check_shard_samples(shard_samples)
    blobs = BlobStore(registry)
    scanned = scan(directory, shard_samples=shard_samples)
    template = DatasetVersion(
        dataset=name, version="", parent=None, shards=(), sources=scanned.sources,
        tombstones=scanned.tombstones, label=PUBLIC, created_at=now, created_by="local",
    )  # fmt: skip
    writer = VersionWriter(blobs)
    return writer.materialise(writer.seal(template, store(blobs, scanned, shard_samples)))


def left_out(
    found: Sequence[shards.Found],
    sources: Sequence[Source],
    earlier: Sequence[Takedown],
    removed: Mapping[str, str] | None = None,
) -> tuple[list[Sample], tuple[Tombstone, ...]]:
    """Samples to keep, and a tombstone (one per content hash) for each sample that a source's
    opt-out reserves or an earlier takedown of the dataset covers, unless another source
    contributes the same content freely."""
    reserved = {s.name: rules.reservation(s) for s in sources}
    hits = rules.taken_down([f.sample for f in found], sources, earlier, removed or {})

    def why(sample: Sample) -> tuple[str, str] | None:
        reservation, takedown = reserved[sample.source], hits.get(sample.sha256)
        if reservation is not None:
            return reservation, IMPORT_REQUEST
        return None if takedown is None else (f"takedown: {takedown.reason}", takedown.id)

    kept = [f.sample for f in found if why(f.sample) is None]
    free = {s.sha256 for s in kept}
    left: dict[str, Tombstone] = {}
    for f in sorted(found, key=lambda f: (f.sample.sha256, f.sample.source)):
        reason = why(f.sample)
        if reason is not None and f.sample.sha256 not in free:
            stone = Tombstone(
                sample_sha256=f.sample.sha256, source=f.sample.source, reason=reason[0], request=reason[1]
            )
            left.setdefault(f.sample.sha256, stone)
    return kept, tuple(left.values())


def payloads(placed: Sequence[Sample], paths: dict[str, Path]) -> Iterator[tuple[Sample, bytes]]:
    """Each sample's bytes, read again and checked: a file changed since it was scanned is refused."""
    for sample in placed:
        path = paths[sample.sha256]
        shown = f"{sample.source}/.../{path.name}"  # never the server's own path
        data = shards.read_plain(path, rules.MAX_SAMPLE_BYTES, shown)
        if hashlib.sha256(data).hexdigest() != sample.sha256:
            raise InvalidInput(f"{shown} changed while it was being imported", field=shown)
        yield sample, data
