"""Dataset registry use cases: import a directory of samples, read versions by clearance, take
samples down, verify a version against its manifest. One transaction per change, events in it.

Shard and manifest files go into the content-addressed blob store before the transaction that
registers them (a rollback leaves only content, harmless to keep); a version's directory
(``<registry>/datasets/<version>/``: manifest.json and the shard tars, hard links to the blobs) is
made after it commits, and again on demand (``job_input``, ``version_dir``).

Public API for other domains: ``job_input(principal, version, job)`` (a version a job may read and
its directory, bound read-only: ``readers`` says who reads what), ``version(principal, version)`` and
``sources(principal, version)`` (the sources with samples in it, and their licences). A file of a
version whose blob is gone is Unavailable (503) naming the version and the file: the facility lost
it, the caller asked nothing wrong.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from pnyx.core.errors import Conflict, Forbidden, IntegrityFailure, NotFound
from pnyx.db.unit_of_work import UnitOfWork
from pnyx.identity.model import Principal, Role
from pnyx.identity.rules import require_role
from pnyx.registry import cards, croissant, importer, readers, rules, shards
from pnyx.registry.blobs import BlobStore, file_sha256
from pnyx.registry.model import (
    MANIFEST_NAME,
    Dataset,
    DatasetVersion,
    Modality,
    Sample,
    Shard,
    Source,
    Takedown,
    VersionAction,
    VersionStatus,
)
from pnyx.registry.store import DatasetRepository
from pnyx.registry.subjects import NoModels, ProjectClearance, TrainedOn
from pnyx.registry.takedowns import Takedowns
from pnyx.registry.versions import VersionWriter, act, check_same_dataset, created_event
from pnyx.safety.defaults import DEFAULT_POLICY
from pnyx.safety.model import Label, SafetyLevel, SafetyPolicy

PUBLIC = readers.PUBLIC
DEFAULT_QUOTA_BYTES = 10 * 1024**3  # PNYX_REGISTRY_PROJECT_BYTES
STAFF = frozenset({Role.OPERATOR, Role.AUDITOR, Role.SAFETY_OFFICER})


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
class JobDataset:
    """A version as a job reads it: the version and its directory."""

    version: DatasetVersion
    path: Path


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
        quota_bytes: int = DEFAULT_QUOTA_BYTES,
    ) -> None:
        """``public_url``: the API's address as the public reaches it, for links in metadata;
        ``quota_bytes``: the shard bytes a project's datasets (public ones: each importer's) may hold."""
        self.uow = uow
        self.public_url = public_url
        self.blobs = blobs
        self.projects = projects
        self.policy = policy
        self.quota_bytes = quota_bytes
        self.writer = VersionWriter(blobs)
        self.removals = Takedowns(
            uow, self.writer, projects=projects, trained_on=trained_on or NoModels(), visible=self._may_read
        )

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
        rules.check_shard_samples(shard_samples)
        label = self.check_import(by, name=name, project=project)
        earlier, removed = self._takedowns_of(name)
        scanned = importer.scan(
            directory, shard_samples=shard_samples, earlier=earlier, removed=removed, progress=progress
        )
        self._check_quota(by, project, sum(s.size for s in scanned.placed))
        template = DatasetVersion(
            dataset=name,
            version="",
            parent=None,
            shards=(),
            sources=scanned.sources,
            tombstones=scanned.tombstones,
            label=label,
            created_at=self.uow.clock.now(),
            created_by=by.name,
            description=rules.check_text(description[: rules.MAX_REASON], "description"),
            modalities=frozenset(s.modality for s in scanned.placed),
            project=project,
        )
        made = self.writer.seal(template, importer.store(self.blobs, scanned, shard_samples))
        return self._register(made, scanned.placed, len(scanned.tombstones))

    def check_import(self, by: Principal, *, name: str, project: str | None) -> Label:
        """Whether ``by`` may import into dataset ``name`` under ``project`` (its label if so): the
        role, the membership, the name's owner and the quota, checked before any upload is read."""
        rules.check_name(name)
        label = self._import_label(by, project)
        with self.uow.read() as conn:
            found = DatasetRepository(conn).dataset(name)
        if found is not None:
            _check_owner(found, project)
        self._check_quota(by, project, 0)
        return label

    def _check_quota(self, by: Principal, project: str | None, adding: int) -> None:
        with self.uow.read() as conn:
            held = DatasetRepository(conn).stored_bytes(project, None if project else by.name)
        rules.check_quota(held, adding, self.quota_bytes, project)

    def _takedowns_of(self, dataset: str) -> tuple[list[Takedown], dict[str, str]]:
        """The dataset's takedowns, and every sample hash they removed (the takedown's id by hash)."""
        with self.uow.read() as conn:
            repo = DatasetRepository(conn)
            return repo.takedowns(dataset), repo.removed_samples(dataset)

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
            rules.check_version_count(draft.dataset, repo.version_count(draft.dataset))
            held = repo.stored_bytes(draft.project, None if draft.project else draft.created_by)
            rules.check_quota(held, draft.size, self.quota_bytes, draft.project)
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
        found = self._stored(rules.check_version(version))
        if found is None or not self._may_read(principal, found):
            raise NotFound(f"no dataset version {version} that you may read", field="version")
        return found

    def sources(self, principal: Principal, version: str) -> tuple[Source, ...]:
        """The sources that contribute samples to a version ``principal`` may read, with their
        licences: a source whose samples opt-outs or takedowns all left out is not among them."""
        v = self.version(principal, version)
        with self.uow.read() as conn:
            used = DatasetRepository(conn).sources_used(v.version)
        return rules.contributing(v.sources, used)

    def job_input(self, principal: Principal, version: str, job: Label) -> JobDataset:
        """A version that a job ``principal`` submits under label ``job`` may read (``readers``),
        and its directory. NotFound for any other, in the same words as for none; Conflict for a
        withdrawn one; InvalidInput if the job's label is too low for a jobs-only level."""
        found = self._stored(version) if rules.HEX64.fullmatch(version) else None
        if found is None or not self._may_read(principal, found, human=False):
            raise NotFound(f"no dataset version {version!r} that your jobs may read", field="version")
        readers.check_job_label(found.version, job, found.label, self.policy())
        return JobDataset(found, self.writer.materialise(_usable(found)))

    def _stored(self, version: str) -> DatasetVersion | None:
        with self.uow.read() as conn:
            return DatasetRepository(conn).version(version)

    def manifest(self, principal: Principal, version: str) -> bytes:
        v = self.version(principal, version)
        data = self.writer.stored(v, MANIFEST_NAME, v.manifest_sha256).read_bytes()
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
        path = self.writer.stored(v, shard.name, shard.sha256)
        _check_shard(v.version, shard, file_sha256(path))
        return ShardFile(shard, path)

    def version_dir(self, principal: Principal, version: str) -> Path:
        """A version's directory (manifest.json and the shard tars) for a person who may read it,
        made if missing; refused for a withdrawn version (Conflict naming its successor)."""
        return self.writer.materialise(_usable(self.version(principal, version)))

    def takedowns(self, principal: Principal, dataset: str) -> list[Takedown]:
        self._readable_dataset(principal, dataset)
        with self.uow.read() as conn:
            return DatasetRepository(conn).takedowns(dataset)

    def verify(self, version: str) -> Verified:
        """Re-hash the version's blobs against its manifest, and the manifest against the version id
        (IntegrityFailure naming the first mismatch)."""
        v = self._stored(rules.check_version(version))
        if v is None:
            raise NotFound(f"no dataset version {version}", field="version")
        for shard in v.shards:
            _check_shard(v.version, shard, file_sha256(self.writer.stored(v, shard.name, shard.sha256)))
        if rules.version_id([s.sha256 for s in v.shards]) != v.version:
            raise IntegrityFailure(f"the shards of {version} do not hash to its version id", field="version")
        manifest = rules.manifest(v.dataset, v.version, v.shards)
        if hashlib.sha256(manifest).hexdigest() != v.manifest_sha256 or not self.blobs.has(v.manifest_sha256):
            raise IntegrityFailure(
                f"the manifest of {version} does not match its recorded digest", field="version"
            )
        self.blobs.verify(v.manifest_sha256)
        return Verified(v.version, len(v.shards), v.size)

    def _may_read(self, principal: Principal, v: DatasetVersion, *, human: bool = True) -> bool:
        return readers.may_read(self._held(principal, v), v.label, self.policy(), human=human)

    def _held(self, principal: Principal, v: DatasetVersion) -> Label | None:
        """``principal``'s clearance for ``v``: a member's of its project, else staff's L1."""
        if not principal.authenticated:
            return None
        held = None if v.project is None else self.projects.member_clearance(principal, v.project)
        if held is None and principal.roles & STAFF:
            return Label(level=SafetyLevel.L1, categories=v.label.categories)
        return held

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


def _dataset_for(repo: DatasetRepository, draft: DatasetVersion, now: datetime) -> Dataset:
    """The dataset, made on its first import, locked for this transaction (concurrent imports into
    it wait for each other), and checked to belong to the draft's project."""
    made = Dataset(
        name=draft.dataset, project=draft.project, current=None, created_at=now, created_by=draft.created_by
    )
    repo.add_dataset_once(made)
    found = repo.dataset(draft.dataset, for_update=True)
    assert found is not None  # inserted above, or present already
    _check_owner(found, draft.project)
    return found


def _check_owner(found: Dataset, project: str | None) -> None:
    """Dataset names are one namespace: a name another project (or the public registry) holds is
    refused without saying whose it is."""
    if found.project != project:
        raise Conflict(
            f"the dataset name {found.name} is taken (by a dataset outside "
            f"{'this project' if project else 'the public registry'}); choose another name",
            field="name",
            code="dataset_name_taken",
        )


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
