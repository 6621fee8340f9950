"""Dataset registry use cases: import a directory of samples, read versions by clearance, take
samples down, verify a version against its manifest. One transaction per change, events in it.

Shard and manifest files go into the content-addressed blob store before the transaction that
registers them (a rollback leaves only content, harmless to keep); a version's directory
(``<registry>/datasets/<version>/``: manifest.json and the shard tars, hard links to the blobs) is
made after it commits, and again on demand by ``version_dir``.

Public API for other domains: ``version_dir(principal, version)`` (the directory a job reads, bound
read-only) and ``version(principal, version)``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from pnyx.core.errors import Conflict, Forbidden, IntegrityFailure, InvalidInput, NotFound
from pnyx.db.unit_of_work import UnitOfWork
from pnyx.identity.model import Principal, Role
from pnyx.identity.rules import require_role
from pnyx.registry import cards, croissant, rules, shards
from pnyx.registry.blobs import BlobStore, file_sha256
from pnyx.registry.model import (
    Dataset,
    DatasetVersion,
    Modality,
    Sample,
    Shard,
    Source,
    Takedown,
    Tombstone,
    VersionAction,
    VersionStatus,
)
from pnyx.registry.store import DatasetRepository
from pnyx.registry.subjects import NoModels, ProjectClearance, TrainedOn
from pnyx.registry.takedowns import Takedowns
from pnyx.registry.versions import VersionWriter, act, check_same_dataset, created_event, flat
from pnyx.safety import rules as safety
from pnyx.safety.defaults import DEFAULT_POLICY
from pnyx.safety.model import Label, SafetyLevel, SafetyPolicy

PUBLIC = Label(level=SafetyLevel.L1)
STAFF = frozenset({Role.OPERATOR, Role.AUDITOR, Role.SAFETY_OFFICER})
IMPORT_REQUEST = "import"  # the request id of tombstones made by opt-outs seen at import


@dataclass(frozen=True, slots=True)
class Imported:
    version: DatasetVersion
    created: bool  # False: the same samples were registered already as this version
    left_out: int  # samples tombstoned by opt-outs


@dataclass(frozen=True, slots=True)
class ShardFile:
    shard: Shard
    path: Path  # the verified blob


@dataclass(frozen=True, slots=True)
class Verified:
    version: str
    shards: int
    bytes: int


class DatasetService:
    def __init__(
        self,
        uow: UnitOfWork,
        blobs: BlobStore,
        *,
        projects: ProjectClearance,
        trained_on: TrainedOn | None = None,
        policy: Callable[[], SafetyPolicy] = lambda: DEFAULT_POLICY,
        public_url: str = "http://127.0.0.1:8000",
    ) -> None:
        """``public_url``: the API's address as the public reaches it, for links in metadata."""
        self.uow = uow
        self.public_url = public_url
        self.blobs = blobs
        self.projects = projects
        self.policy = policy
        self.writer = VersionWriter(blobs)
        self.removals = Takedowns(uow, self.writer, projects=projects, trained_on=trained_on or NoModels())

    # -- import ------------------------------------------------------------------------------------

    def import_directory(
        self,
        by: Principal,
        directory: Path,
        *,
        name: str,
        project: str | None = None,
        shard_samples: int = rules.DEFAULT_SHARD_SAMPLES,
        description: str = "",
        progress: shards.Progress | None = None,
    ) -> Imported:
        """Check every file, shard the samples, register the version (InvalidInput naming the first
        fault; nothing is registered then)."""
        rules.check_name(name)
        rules.check_shard_samples(shard_samples)
        label = self._import_label(by, project)
        sources = shards.read_sources(directory)
        found = shards.scan(directory, sources, progress)
        kept, tombstones = _left_out(found, sources, self._takedowns_of(name))
        placed = flat(rules.plan_shards(rules.deduplicate(kept), shard_samples))
        if not placed:
            raise InvalidInput(
                f"{directory} holds no sample to import ({len(tombstones)} opted out)", field="directory"
            )
        template = DatasetVersion(
            dataset=name,
            version="",
            parent=None,
            shards=(),
            sources=sources,
            tombstones=tombstones,
            label=label,
            created_at=self.uow.clock.now(),
            created_by=by.name,
            description=rules.check_text(description[: rules.MAX_REASON], "description"),
            modalities=frozenset(s.modality for s in placed),
            project=project,
        )
        paths = {f.sample.sha256: f.path for f in found}
        made = self.writer.seal(
            template, shards.store_shards(self.blobs, _payloads(placed, paths), shard_samples)
        )
        return self._register(made, placed, len(tombstones))

    def _takedowns_of(self, dataset: str) -> list[Takedown]:
        with self.uow.read() as conn:
            return DatasetRepository(conn).takedowns(dataset)

    def _import_label(self, by: Principal, project: str | None) -> Label:
        """Operators import public datasets (L1, no category); a project's members import into it
        under the project's label."""
        if project is None:
            require_role(by, Role.OPERATOR)
            return PUBLIC
        require_role(by, *Role)
        held = self.projects.member_clearance(by, project)
        if held is None:
            raise Forbidden(f"only members of project {project} import datasets into it", field="project")
        return held

    def _register(self, draft: DatasetVersion, samples: Sequence[Sample], left_out: int) -> Imported:
        with self.uow.write() as tx:
            repo = DatasetRepository(tx.conn)
            dataset = _dataset_for(repo, draft, tx.now)  # the project checked before anything is answered
            existing = repo.version(draft.version)
            if existing is not None:
                check_same_dataset(existing, draft.dataset)
                return Imported(_usable(existing), created=False, left_out=left_out)
            made = replace(draft, parent=dataset.current, created_at=tx.now)
            if dataset.current is not None:
                act(repo, dataset.current, VersionAction.SUPERSEDE, None)
            repo.add_version(made, samples)
            repo.set_current(made.dataset, made.version)
            tx.emit(created_event(made, samples))
        self.writer.materialise(made)
        return Imported(made, created=True, left_out=left_out)

    # -- reads -------------------------------------------------------------------------------------

    def versions(
        self, principal: Principal, *, dataset: str | None = None, current_only: bool = True
    ) -> list[DatasetVersion]:
        """Versions ``principal`` may read: each dataset's current one, or every version."""
        with self.uow.read() as conn:
            found = DatasetRepository(conn).versions(
                dataset, status=VersionStatus.CURRENT if current_only else None
            )
        return [v for v in found if self._may_read(principal, v)]

    def version(self, principal: Principal, version: str) -> DatasetVersion:
        """A version ``principal`` may read (NotFound for any other: no version is confirmed to exist)."""
        rules.check_version(version)
        with self.uow.read() as conn:
            found = DatasetRepository(conn).version(version)
        if found is None or not self._may_read(principal, found):
            raise NotFound(f"no dataset version {version} that you may read", field="version")
        return found

    def manifest(self, principal: Principal, version: str) -> bytes:
        v = self.version(principal, version)
        data = self.blobs.path(v.manifest_sha256).read_bytes()
        if hashlib.sha256(data).hexdigest() != v.manifest_sha256:
            raise IntegrityFailure(
                f"the manifest of version {version} no longer matches its digest", field="version"
            )
        return data

    def croissant(
        self, principal: Principal, version: str, *, base_url: str | None = None
    ) -> dict[str, object]:
        """Croissant 1.1 JSON-LD; links under ``base_url`` (default: the configured public URL)."""
        v = self.version(principal, version)
        counts, used, generation = self._contents(v)
        base = base_url or self.public_url
        return croissant.croissant(v, counts, base_url=base, generation=generation, used=used)

    def card(self, principal: Principal, version: str, *, base_url: str | None = None) -> str:
        v = self.version(principal, version)
        counts, used, _ = self._contents(v)
        url = croissant.version_url(base_url or self.public_url, v.version)
        return cards.card(v, counts, url=url, used=used)

    def _contents(self, v: DatasetVersion) -> tuple[dict[Modality, int], frozenset[str], int]:
        """Samples per modality, the sources that contribute, and the version's place (1-based)."""
        with self.uow.read() as conn:
            repo = DatasetRepository(conn)
            counts, used = repo.counts(v.version), repo.sources_used(v.version)
            order = [x.version for x in repo.versions(v.dataset)]
        return counts, used, order.index(v.version) + 1

    def shard(self, principal: Principal, version: str, index: int) -> ShardFile:
        """A shard's blob, re-hashed against the manifest before it is served."""
        v = _usable(self.version(principal, version))
        if not 0 <= index < len(v.shards):
            raise NotFound(f"version {version} has shards 0..{len(v.shards) - 1}, not {index}", field="index")
        shard = v.shards[index]
        path = self.blobs.path(shard.sha256)
        _check_shard(v.version, shard, file_sha256(path))
        return ShardFile(shard, path)

    def version_dir(self, principal: Principal, version: str) -> Path:
        """The directory a job reads (manifest.json and the shard tars), made if missing; refused
        for a withdrawn version (Conflict naming its successor)."""
        return self.writer.materialise(_usable(self.version(principal, version)))

    def takedowns(self, principal: Principal, dataset: str) -> list[Takedown]:
        self._readable_dataset(principal, dataset)
        with self.uow.read() as conn:
            return DatasetRepository(conn).takedowns(dataset)

    def verify(self, version: str) -> Verified:
        """Re-hash the version's blobs against its manifest, and the manifest against the version id
        (IntegrityFailure naming the first mismatch)."""
        rules.check_version(version)
        with self.uow.read() as conn:
            v = DatasetRepository(conn).version(version)
        if v is None:
            raise NotFound(f"no dataset version {version}", field="version")
        for shard in v.shards:
            _check_shard(v.version, shard, file_sha256(self.blobs.path(shard.sha256)))
        if rules.version_id([s.sha256 for s in v.shards]) != v.version:
            raise IntegrityFailure(f"the shards of {version} do not hash to its version id", field="version")
        manifest = rules.manifest(v.dataset, v.version, v.shards)
        if hashlib.sha256(manifest).hexdigest() != v.manifest_sha256 or not self.blobs.has(v.manifest_sha256):
            raise IntegrityFailure(
                f"the manifest of {version} does not match its recorded digest", field="version"
            )
        self.blobs.verify(v.manifest_sha256)
        return Verified(v.version, len(v.shards), v.size)

    def _may_read(self, principal: Principal, v: DatasetVersion) -> bool:
        if v.label == PUBLIC:
            return True
        if not principal.authenticated:
            return False
        held = None if v.project is None else self.projects.member_clearance(principal, v.project)
        if held is None and principal.roles & STAFF:
            held = Label(level=SafetyLevel.L1, categories=v.label.categories)
        return held is not None and safety.may_read(held, v.label, self.policy(), human=True)

    def _readable_dataset(self, principal: Principal, dataset: str) -> list[DatasetVersion]:
        found = self.versions(principal, dataset=dataset, current_only=False)
        if not found:
            raise NotFound(f"no dataset {dataset!r} that you may read", field="dataset")
        return found

    def takedown(
        self,
        by: Principal,
        dataset: str,
        *,
        reason: str,
        origin: str | None = None,
        samples: Sequence[str] = (),
    ) -> Takedown:
        """Leave samples out by origin or hash (``takedowns``): a new version without them, every
        version that held one withdrawn, and the model versions trained on an affected shard named."""
        return self.removals.apply(by, dataset, reason=reason, origin=origin, samples=samples)


def _left_out(
    found: Sequence[shards.Found], sources: Sequence[Source], earlier: Sequence[Takedown]
) -> tuple[list[Sample], tuple[Tombstone, ...]]:
    """Samples to keep, and a tombstone (one per content hash) for each sample that a source's
    opt-out reserves or an earlier takedown of the dataset covers, unless another source
    contributes the same content freely."""
    reserved = {s.name: rules.reservation(s) for s in sources}
    hits = rules.taken_down([f.sample for f in found], sources, earlier)

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


def _payloads(placed: Sequence[Sample], paths: dict[str, Path]) -> Iterator[tuple[Sample, bytes]]:
    """Each sample's bytes, read again and checked: a file changed since it was scanned is refused."""
    for sample in placed:
        path = paths[sample.sha256]
        data = shards.read_plain(path, rules.MAX_SAMPLE_BYTES, str(path))
        if hashlib.sha256(data).hexdigest() != sample.sha256:
            raise InvalidInput(f"{path} changed while it was being imported", field=str(path))
        yield sample, data


def _dataset_for(repo: DatasetRepository, draft: DatasetVersion, now: datetime) -> Dataset:
    """The dataset, made on its first import, locked for this transaction (concurrent imports into
    it wait for each other), and checked to belong to the draft's project."""
    made = Dataset(
        name=draft.dataset, project=draft.project, current=None, created_at=now, created_by=draft.created_by
    )
    repo.add_dataset_once(made)
    found = repo.dataset(draft.dataset, for_update=True)
    assert found is not None  # inserted above, or present already
    if found.project != draft.project:
        owner = found.project or "none (a public dataset)"
        raise Conflict(
            f"dataset {found.name} belongs to project {owner}; import it under that project", field="project"
        )
    return found


def _usable(v: DatasetVersion) -> DatasetVersion:
    if v.status is VersionStatus.WITHDRAWN:
        instead = f"; its successor is {v.successor}" if v.successor else ""
        raise Conflict(
            f"dataset version {v.version} is withdrawn by a takedown: not served, not for jobs{instead}",
            field="version",
            code="dataset_withdrawn",
        )
    return v


def _check_shard(version: str, shard: Shard, found: str) -> None:
    if found != shard.sha256:
        raise IntegrityFailure(
            f"shard {shard.index} ({shard.name}) of version {version} hashes to {found}, "
            f"but its manifest says {shard.sha256}",
            field="index",
        )
