"""Model versions: finished training jobs taken in, their lineage, and downloads checked against the log.

``intake`` is the dispatcher's hook (``dispatch.outputs.ModelIntake``): a completed job whose
recorded outputs hold ``pnyx-model.json`` is checked and registered (``lineage_intake.prepare``, then
one transaction that writes the version, its files, the shards it read, its checkpoints, the job's
intake and the public ``registry.model.registered`` entry), or refused with the reason (the intake
records it and the dispatcher reports it); each job attempt is taken in once.

Reading: a version is public once its weights, card and data-order record have each been released
to the public label (``lineage_rules.is_public``); until then only those whose clearance in its
project covers its label read it (a refusal names the label). A file is served only after its blob
is re-hashed and found equal to the digest the version's registration entry logs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Protocol

from pnyx.core.errors import Forbidden, IntegrityFailure, InvalidInput, NotFound, Unavailable
from pnyx.db.unit_of_work import UnitOfWork
from pnyx.identity.model import Principal
from pnyx.jobs.clearance import is_staff
from pnyx.jobs.executor import OutputReader
from pnyx.jobs.model import EngineRef, JobArtifact, JobRecord, JobStatus
from pnyx.jobs.store import ArtifactRepository
from pnyx.jobs.subjects import Releases, artifact_id
from pnyx.registry.blobs import BlobStore, file_sha256
from pnyx.registry.lineage_events import ModelIntakeRefused, ModelVersionRegistered, entry_bytes, registered
from pnyx.registry.lineage_intake import DatasetVersions, RecordedOutputs, Registration, prepare
from pnyx.registry.lineage_model import (
    CARD_NAME,
    MANIFEST_NAME,
    Checkpoint,
    DatasetUse,
    FileRelease,
    FileRole,
    Intake,
    IntakeOutcome,
    Lineage,
    LoggedFile,
    ModelFile,
    ModelVersion,
)
from pnyx.registry.lineage_rules import is_public, may_read_model, model_artifact, parse_model_artifact
from pnyx.registry.lineage_store import ModelRepository
from pnyx.registry.model import DatasetVersion
from pnyx.registry.model_downloads import DownloadProof, check_digest, logged_file
from pnyx.registry.store import DatasetRepository
from pnyx.safety.defaults import DEFAULT_POLICY
from pnyx.safety.model import Label, SafetyLevel, SafetyPolicy
from pnyx.safety.subjects import Artifacts, StoredArtifact
from pnyx.transparency.model import SignedCheckpoint

MAX_REASON = 2000
SCAN = 5000  # versions looked at for one listing


class Clearances(Protocol):
    """The label ``principal`` holds as a member of a project; None for anyone else
    (``adapters.ProjectMembers`` answers it)."""

    def member_clearance(self, principal: Principal, project_id: str) -> Label | None: ...


class InclusionHashes(Protocol):
    @property
    def hashes(self) -> list[bytes]: ...


class LogIndex(Protocol):
    """The public log as downloads are checked against it (``transparency.service.LogService``)."""

    def find(self, event_type: str, data: bytes) -> int | None:
        """Where an event's exact entry bytes were logged."""
        ...

    def checkpoint(self) -> SignedCheckpoint: ...

    def inclusion_proof(self, index: int, size: int | None = None) -> InclusionHashes: ...


class Jobs(Protocol):
    """A job's record for whoever may see it (``jobs.service.JobService.get``)."""

    def get(self, principal: Principal, job_id: str) -> JobRecord: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class Registered:
    """A version's registration entry: its index in the public log and its exact bytes."""

    log_index: int
    entry: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class ServedFile:
    """A file found equal to its logged digest, as stored (``path``: the blob)."""

    file: ModelFile
    path: Path
    log_index: int


class ModelService:
    def __init__(
        self,
        uow: UnitOfWork,
        *,
        blobs: BlobStore,
        staging: Path,
        datasets: DatasetVersions,
        readers: Mapping[str, OutputReader],
        members: Clearances,
        releases: Releases,
        log: LogIndex,
        jobs: Jobs,
        policy: SafetyPolicy = DEFAULT_POLICY,
    ) -> None:
        """``readers``: the engines whose outputs the control plane can read; ``staging``: a private
        directory outputs are copied through on their way into ``blobs``."""
        self.uow, self.blobs, self.staging, self.datasets = uow, blobs, staging, datasets
        self.readers, self.members, self.releases = readers, members, releases
        self.log, self.jobs, self.policy = log, jobs, policy

    # --- intake (the dispatcher's hook) ----------------------------------------------------------

    def intake(self, job: JobRecord) -> str | None:
        """Register the model a completed job's outputs describe, once per attempt; the refusal's
        message when a check fails (recorded, with nothing registered); None otherwise."""
        recorded = self._untaken_outputs(job)
        if recorded is None:
            return None
        try:
            registration = prepare(job, self._outputs(job, recorded), self.datasets, self.uow.clock.now())
        except InvalidInput as exc:
            return self._refuse(job, exc)
        self._register(job, registration)
        return None

    def untaken(self, *, since: datetime, limit: int) -> list[JobRecord]:
        """Completed jobs with a recorded ``pnyx-model.json`` not yet taken in (a crash between)."""
        with self.uow.read() as conn:
            return ModelRepository(conn).untaken(since=since, limit=limit, manifest=MANIFEST_NAME)

    def _untaken_outputs(self, job: JobRecord) -> list[JobArtifact] | None:
        if job.status is not JobStatus.COMPLETED:
            return None
        with self.uow.read() as conn:
            if ModelRepository(conn).intake(job.id, job.attempt) is not None:
                return None
            recorded = [a for a in ArtifactRepository(conn).of_job(job.id) if a.attempt == job.attempt]
        return recorded if any(a.path == MANIFEST_NAME for a in recorded) else None

    def _outputs(self, job: JobRecord, recorded: Sequence[JobArtifact]) -> RecordedOutputs:
        reader = self.readers.get(job.engine)
        if reader is None or job.engine_job_id is None:
            raise InvalidInput(
                f"the {job.engine} engine's outputs cannot be read by the control plane: no model is "
                "registered from its jobs",
                field="engine",
                code="outputs_unreadable",
            )
        ref = EngineRef(engine=job.engine, engine_job_id=job.engine_job_id)
        return RecordedOutputs(reader, ref, recorded, self.blobs, self.staging)

    def _register(self, job: JobRecord, registration: Registration) -> None:
        with self.uow.write() as tx:
            repo = ModelRepository(tx.conn)
            if repo.intake(job.id, job.attempt) is not None:
                return
            model = replace(registration.model, created_at=tx.now)
            event = registered(model, len(registration.shards), len(registration.checkpoints))
            repo.add(model, registration.shards, entry_bytes(event, tx.now))
            repo.add_checkpoints(replace(c, recorded_at=tx.now) for c in registration.checkpoints)
            repo.add_intake(_intake(job, IntakeOutcome.REGISTERED, tx.now, version=model.version))
            tx.emit(event)

    def _refuse(self, job: JobRecord, exc: InvalidInput) -> str:
        with self.uow.write() as tx:
            repo = ModelRepository(tx.conn)
            if repo.intake(job.id, job.attempt) is None:
                repo.add_intake(
                    _intake(job, IntakeOutcome.REFUSED, tx.now, reason=exc.message, code=exc.code)
                )
                tx.emit(ModelIntakeRefused(job_id=job.id, attempt=job.attempt, code=exc.code))
        return exc.message

    def intakes(self, principal: Principal, job_id: str) -> list[Intake]:
        """What the registry made of each attempt of a job, for whoever may see the job."""
        self.jobs.get(principal, job_id)
        with self.uow.read() as conn:
            return ModelRepository(conn).intakes(job_id)

    # --- reading ---------------------------------------------------------------------------------

    def search(
        self, principal: Principal, *, name: str | None = None, limit: int = 100, offset: int = 0
    ) -> list[ModelVersion]:
        """The versions ``principal`` may read, newest first."""
        with self.uow.read() as conn:
            found = ModelRepository(conn).search(name=name, limit=SCAN)
        return [m for m in found if self._may_read(principal, m)][offset : offset + limit]

    def get(self, principal: Principal, version: str) -> ModelVersion:
        model = self._model(version)
        if not self._may_read(principal, model):
            raise Forbidden(
                f"model version {version} is labelled {model.label} and not released to the public: "
                f"reading it needs clearance at or above {model.label}",
                field="version",
                code="clearance_insufficient",
            )
        return model

    def is_public(self, model: ModelVersion) -> bool:
        return is_public(model, self._releases(model))

    def lineage(self, principal: Principal, version: str) -> Lineage:
        """Dataset versions (and the shards read) -> job -> this version -> its files' releases."""
        model = self.get(principal, version)
        with self.uow.read() as conn:
            repo = ModelRepository(conn)
            shards, checkpoints = repo.shards(version), repo.checkpoints(model.job_id, model.attempt)
        releases = self._releases(model)
        return Lineage(
            datasets=tuple(
                self._dataset_use(d, [s.shard for s in shards if s.dataset == d]) for d in model.datasets
            ),
            model=model,
            checkpoints=tuple(checkpoints),
            releases=tuple(releases),
            public=is_public(model, releases),
        )

    def checkpoints(self, principal: Principal, version: str) -> list[Checkpoint]:
        model = self.get(principal, version)
        with self.uow.read() as conn:
            return ModelRepository(conn).checkpoints(model.job_id, model.attempt)

    def files(self, principal: Principal, version: str) -> list[LoggedFile]:
        """The version's files, each with the log index of the entry that carries its digest."""
        model = self.get(principal, version)
        with self.uow.read() as conn:
            entry = ModelRepository(conn).log_entry(version)
        index = None if entry is None else self.log.find(ModelVersionRegistered.event_type, entry)
        return [LoggedFile(file=f, log_index=index) for f in model.files]

    def registration(self, principal: Principal, version: str) -> Registered:
        """The version's registration entry in the log (Unavailable until the appender reaches it)."""
        self.get(principal, version)
        return self._registered(version)

    def open_file(self, principal: Principal, version: str, path: str) -> ServedFile:
        """A file of the version, re-hashed and found equal to the digest its registration entry
        logs; IntegrityFailure naming the file and both digests otherwise."""
        file = _file(self.get(principal, version), path)
        registration = self._registered(version)
        logged = logged_file(registration.entry, version, file.role.value, path)
        check_digest(path, version, file.sha256, logged.sha256, f"log entry {registration.log_index}")
        if not self.blobs.has(file.sha256):
            raise IntegrityFailure(f"{path} of model version {version} is missing from the blob store",
                                   field="file", code="file_missing")  # fmt: skip
        blob = self.blobs.path(file.sha256)
        check_digest(path, version, file_sha256(blob), logged.sha256, f"log entry {registration.log_index}")
        return ServedFile(file=file, path=blob, log_index=registration.log_index)

    def proof(self, principal: Principal, version: str, path: str) -> DownloadProof:
        """What a downloader checks a file against: the registration entry, its inclusion proof and
        the latest signed checkpoint (``model_downloads.check_download``)."""
        file = _file(self.get(principal, version), path)
        registration = self._registered(version)
        signed = self.log.checkpoint()
        inclusion = self.log.inclusion_proof(registration.log_index, signed.size)
        return DownloadProof(
            version=version, path=path, role=file.role.value, log_index=registration.log_index,
            entry=registration.entry, tree_size=signed.size, proof=tuple(inclusion.hashes),
            checkpoint=signed.note,
        )  # fmt: skip

    def card(self, principal: Principal, version: str) -> str:
        return self.open_file(principal, version, CARD_NAME).path.read_text(encoding="utf-8")

    def models_trained_on(self, version: str, shards: Sequence[int]) -> list[str]:
        """Model versions whose data order read any of ``shards`` of dataset ``version`` (the dataset
        takedown's ``registry.subjects.TrainedOn``)."""
        with self.uow.read() as conn:
            return ModelRepository(conn).models_trained_on(version, shards)

    # --- steps -----------------------------------------------------------------------------------

    def _model(self, version: str) -> ModelVersion:
        with self.uow.read() as conn:
            model = ModelRepository(conn).get(version)
        if model is None:
            raise NotFound(f"no model version {version!r}", field="version", code="model_version_not_found")
        return model

    def _may_read(self, principal: Principal, model: ModelVersion) -> bool:
        """Its project's members by their clearance; staff (operators, auditors, safety officers) at
        L1 only, as they read jobs' outputs and datasets; anyone once it is public."""
        held = self.members.member_clearance(principal, model.project) if principal.authenticated else None
        if held is None and principal.authenticated and is_staff(principal):
            held = Label(level=SafetyLevel.L1, categories=model.label.categories)
        if may_read_model(False, held, model.label, self.policy):
            return True
        return self.is_public(model)

    def _releases(self, model: ModelVersion) -> list[FileRelease]:
        """Release decisions of the version's files: by the version's ids, or of the job's outputs."""
        ids = [(f.path, model_artifact(model.version, f.path)) for f in model.files]
        ids += [
            (f.path, artifact_id(model.job_id, f.path)) for f in model.files if f.role is not FileRole.CARD
        ]
        return [
            FileRelease(path=path, release_id=r.release_id, sha256=r.sha256, label=r.label)
            for path, subject in ids
            for r in self.releases.released_of(subject)
        ]

    def _registered(self, version: str) -> Registered:
        with self.uow.read() as conn:
            entry = ModelRepository(conn).log_entry(version)
        index = None if entry is None else self.log.find(ModelVersionRegistered.event_type, entry)
        if entry is None or index is None:
            raise Unavailable(
                f"model version {version}'s registration is not in the transparency log yet: its files "
                "are served once it is (the log is appended every few seconds)",
                field="version",
                code="not_yet_logged",
            )
        return Registered(log_index=index, entry=entry)

    def _dataset_use(self, version: str, shards: Sequence[int]) -> DatasetUse:
        found = self.datasets.dataset_version(version)
        return DatasetUse(version=version, name="" if found is None else found.dataset, shards=tuple(shards))


class StoredDatasets:
    """Dataset versions as the registry stores them, without a reader's clearance: what the intake
    checks a data-order record against (``lineage_intake.DatasetVersions``)."""

    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow

    def dataset_version(self, version: str) -> DatasetVersion | None:
        with self.uow.read() as conn:
            return DatasetRepository(conn).version(version)


class ModelArtifacts:
    """Release subjects: a model version's files (``model:<version>/<path>``), labelled as the
    version; any other id is ``others``' (a job's output)."""

    def __init__(self, uow: UnitOfWork, others: Artifacts) -> None:
        self.uow, self.others = uow, others

    def artifact(self, artifact_id: str) -> StoredArtifact | None:
        parsed = parse_model_artifact(artifact_id)
        if parsed is None:
            return self.others.artifact(artifact_id)
        version, path = parsed
        with self.uow.read() as conn:
            repo = ModelRepository(conn)
            model, file = repo.get(version), repo.by_file(version, path)
        if model is None or file is None:
            return None
        return StoredArtifact(label=model.label, sha256=file.sha256, project=model.project)


def _file(model: ModelVersion, path: str) -> ModelFile:
    found = model.file(path)
    if found is None:
        names = ", ".join(f.path for f in model.files)
        raise NotFound(f"model version {model.version} has no file {path!r}; it has {names}", field="file",
                       code="model_file_not_found")  # fmt: skip
    return found


def _intake(
    job: JobRecord, outcome: IntakeOutcome, at: datetime, *, version: str | None = None, reason: str = "",
    code: str = "",
) -> Intake:  # fmt: skip
    return Intake(
        job_id=job.id, attempt=job.attempt, outcome=outcome, version=version, reason=reason[:MAX_REASON],
        code=code, at=at,
    )  # fmt: skip
