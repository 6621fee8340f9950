"""Model versions: finished training jobs taken in, their lineage, and downloads checked against the log.

``intake`` is the dispatcher's hook (``dispatch.outputs.ModelIntake``): a completed job whose
recorded outputs hold ``pnyx-model.json`` is checked and registered (``lineage_intake.prepare``, then
one transaction that writes the version, its files, the shards it read, the checkpoints not
registered while it ran, the job's intake and the public ``registry.model.registered`` entry), or
refused with the reason (the intake records it and the dispatcher reports it); each job attempt is
taken in once. ``take_checkpoints`` is the dispatcher's other hook (``dispatch.outputs
.CheckpointIntake``): a running job's checkpoints registered as they are written
(``lineage_running``); the version links them by job and attempt.

An output that crashes a parser is refused like one that fails a check (``lineage_intake.decide``);
an intake past its time (``intake_budget_s``) is refused. Reading: a version is public once its
weights, card and data-order record have each been released to the public label; until then only
those whose clearance in its project covers its label read it, and to anyone else it does not exist
(NotFound). A file is served only if its blob hashes to the digest its registration entry logs
(re-hashed whenever the blob's file changed: ``BlobStore.cached_sha256``).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from pnyx.core.errors import IntegrityFailure, InvalidInput, NotFound, Unavailable
from pnyx.core.events import entry_bytes
from pnyx.db.unit_of_work import UnitOfWork
from pnyx.identity.model import Principal
from pnyx.jobs.clearance import is_staff
from pnyx.jobs.executor import OutputReader
from pnyx.jobs.model import JobArtifact, JobRecord, JobStatus
from pnyx.jobs.store import ArtifactRepository
from pnyx.jobs.subjects import Releases, artifact_id
from pnyx.registry.blobs import BlobStore
from pnyx.registry.lineage_events import (
    ModelIntakeRefused,
    ModelVersionRegistered,
    checkpoint_registered,
    registered,
)
from pnyx.registry.lineage_intake import (
    Budget,
    DatasetVersions,
    RecordedOutputs,
    Registration,
    decide,
    intake_row,
    prepare,
)
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
from pnyx.registry.lineage_ports import Clearances, Jobs, LogIndex
from pnyx.registry.lineage_rules import (
    is_public,
    may_read_model,
    model_artifact,
    model_file,
    parse_model_artifact,
)
from pnyx.registry.lineage_running import RunningCheckpoints
from pnyx.registry.lineage_store import ModelRepository
from pnyx.registry.model import DatasetVersion
from pnyx.registry.model_downloads import DownloadProof, check_digest, logged_file
from pnyx.registry.model_inputs import ModelInputs
from pnyx.registry.rules import contributing
from pnyx.registry.store import DatasetRepository
from pnyx.safety.defaults import DEFAULT_POLICY
from pnyx.safety.model import Label, SafetyLevel, SafetyPolicy
from pnyx.safety.subjects import Artifacts, StoredArtifact

PAGE = 500  # versions read at once for a listing
MAX_SCAN = 50_000  # versions looked at for one listing, at most
INTAKE_BUDGET_S = 60.0  # one job's intake; past it, refused (``lineage_intake.Budget``)


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
        datasets: DatasetVersions,
        readers: Mapping[str, OutputReader],
        members: Clearances,
        releases: Releases,
        log: LogIndex,
        jobs: Jobs,
        policy: SafetyPolicy = DEFAULT_POLICY,
        intake_budget_s: float = INTAKE_BUDGET_S,
    ) -> None:
        """``readers``: the engines whose outputs the control plane can read (each output is streamed
        into ``blobs`` once, checked against the digest recorded when the job ended);
        ``intake_budget_s``: the time one job's intake may take before it is refused."""
        self.uow, self.blobs, self.datasets = uow, blobs, datasets
        self.readers, self.members, self.releases = readers, members, releases
        self.log, self.jobs, self.policy = log, jobs, policy
        self.intake_budget_s = intake_budget_s
        self.running = RunningCheckpoints(uow, readers)
        self.inputs = ModelInputs(uow, blobs, members, policy, self.is_public)  # versions as jobs' inputs

    # --- intake (the dispatcher's hook) ----------------------------------------------------------

    def intake(self, job: JobRecord) -> str | None:
        """Register the model a completed job's outputs describe, once per attempt; the refusal's
        message when a check fails (recorded, with nothing registered); None otherwise."""
        recorded = self._untaken_outputs(job)
        if recorded is None:
            return None
        found = decide(lambda: self._prepare(job, recorded))
        if isinstance(found, InvalidInput):
            return self._refuse(job, found)
        self._register(job, found)
        return None

    def take_checkpoints(self, job: JobRecord, refused: Collection[int]) -> dict[int, str]:
        """Register the complete checkpoints a running job has written since (``lineage_running``);
        those refused now, step -> why."""
        return self.running.take(job, refused)

    def untaken(self, *, since: datetime, limit: int) -> list[JobRecord]:
        """Completed jobs with a recorded ``pnyx-model.json`` not yet taken in (a crash between)."""
        with self.uow.read() as conn:
            return ModelRepository(conn).untaken(since=since, limit=limit, manifest=MANIFEST_NAME)

    def _untaken_outputs(self, job: JobRecord) -> list[JobArtifact] | None:
        if job.status is not JobStatus.COMPLETED:
            return None
        with self.uow.read() as conn:  # the intake row only where there is a manifest to take in
            recorded = ArtifactRepository(conn).of_attempt(job.id, job.attempt)
            if not any(a.path == MANIFEST_NAME for a in recorded):
                return None
            return None if ModelRepository(conn).intake(job.id, job.attempt) is not None else recorded

    def _prepare(self, job: JobRecord, recorded: Sequence[JobArtifact]) -> Registration:
        with self.uow.read() as conn:
            earlier = ModelRepository(conn).checkpoints(job.id, job.attempt)  # registered while it ran
        outputs, budget = (
            RecordedOutputs.of(self.readers, job, recorded, self.blobs),
            Budget.start(self.intake_budget_s),
        )
        return prepare(job, outputs, self.datasets, self.uow.clock.now(), earlier, budget)

    def _register(self, job: JobRecord, registration: Registration) -> None:
        with self.uow.write() as tx:
            repo = ModelRepository(tx.conn)
            if repo.intake(job.id, job.attempt) is not None:
                return
            model = replace(registration.model, created_at=tx.now)
            have = {k.step for k in repo.checkpoint_keys(job.id, job.attempt)}
            fresh = [replace(c, recorded_at=tx.now) for c in registration.checkpoints if c.step not in have]
            event = registered(model, len(registration.shards), len(have) + len(fresh))
            repo.add(model, registration.shards, entry_bytes(event, tx.now))
            repo.add_checkpoints(fresh)
            repo.add_intake(intake_row(job, IntakeOutcome.REGISTERED, tx.now, version=model.version))
            tx.emit(event)
            for c in fresh:
                tx.emit(checkpoint_registered(c))

    def _refuse(self, job: JobRecord, exc: InvalidInput) -> str:
        with self.uow.write() as tx:
            repo = ModelRepository(tx.conn)
            if repo.intake(job.id, job.attempt) is None:
                repo.add_intake(
                    intake_row(job, IntakeOutcome.REFUSED, tx.now, reason=exc.message, code=exc.code)
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
        """The versions ``principal`` may read, newest first: pages of the newest versions, filtered,
        until ``offset + limit`` readable ones are found or ``MAX_SCAN`` versions were looked at."""
        found: list[ModelVersion] = []
        for start in range(0, MAX_SCAN, PAGE):
            with self.uow.read() as conn:
                page = ModelRepository(conn).search(name=name, limit=PAGE, offset=start)
            found += [m for m in page if self._may_read(principal, m)]
            if len(found) >= offset + limit or len(page) < PAGE:
                break
        return found[offset : offset + limit]

    def get(self, principal: Principal, version: str) -> ModelVersion:
        """The version, if ``principal`` may read it; NotFound alike for one they may not read and
        one that does not exist (no answer tells an outsider that an unreleased version exists)."""
        model = self._model(version)
        if not self._may_read(principal, model):
            raise _not_found(version)
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

    def job_checkpoints(self, principal: Principal, job_id: str) -> list[Checkpoint]:
        """A job's registered checkpoints, every attempt's, while it runs and after, for whoever may
        see the job (before its model version exists, and if it never does)."""
        self.jobs.get(principal, job_id)
        with self.uow.read() as conn:
            return ModelRepository(conn).job_checkpoints(job_id)

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
        file = model_file(self.get(principal, version), path)
        registration = self._registered(version)
        logged = logged_file(registration.entry, version, file.role.value, path)
        check_digest(path, version, file.sha256, logged.sha256, f"log entry {registration.log_index}")
        if not self.blobs.has(file.sha256):
            raise IntegrityFailure(f"{path} of model version {version} is missing from the blob store",
                                   field="file", code="file_missing")  # fmt: skip
        blob = self.blobs.path(file.sha256)
        found = self.blobs.cached_sha256(file.sha256)  # re-hashed when the blob's file changed
        check_digest(path, version, found, logged.sha256, f"log entry {registration.log_index}")
        return ServedFile(file=file, path=blob, log_index=registration.log_index)

    def proof(self, principal: Principal, version: str, path: str) -> DownloadProof:
        """What a downloader checks a file against: the registration entry, its inclusion proof and
        the latest signed checkpoint (``model_downloads.check_download``)."""
        file = model_file(self.get(principal, version), path)
        registration = self._registered(version)
        signed = self.log.checkpoint()
        inclusion = self.log.inclusion_proof(registration.log_index, signed.size)
        return DownloadProof(
            version=version, path=path, role=file.role.value, log_index=registration.log_index,
            entry=registration.entry, tree_size=signed.size, proof=tuple(inclusion.hashes),
            checkpoint=signed.note,
        )  # fmt: skip

    def job_input(self, principal: Principal, version: str, job: Label) -> tuple[Path, Label]:
        return self.inputs.job_input(principal, version, job)

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
            raise _not_found(version)
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
            raise Unavailable(f"model version {version}'s registration is not in the transparency log yet: "
                              "its files are served once it is (the log is appended every few seconds)",
                              field="version", code="not_yet_logged")  # fmt: skip
        return Registered(log_index=index, entry=entry)

    def _dataset_use(self, version: str, shards: Sequence[int]) -> DatasetUse:
        found = self.datasets.dataset_version(version)
        return DatasetUse(version=version, name="" if found is None else found.dataset, shards=tuple(shards))


class StoredDatasets:
    """Dataset versions as the registry stores them, without a reader's clearance: what the intake
    checks a data-order record against (``lineage_intake.DatasetVersions``). Each comes with only
    the sources that contribute samples to it: a model trained on it owes nothing to a source whose
    samples opt-outs or takedowns all left out, and its card names the licences of these alone."""

    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow

    def dataset_version(self, version: str) -> DatasetVersion | None:
        with self.uow.read() as conn:
            repo = DatasetRepository(conn)
            found = repo.version(version)
            used = frozenset() if found is None else repo.sources_used(version)
        return None if found is None else replace(found, sources=contributing(found.sources, used))


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


def _not_found(version: str) -> NotFound:
    message = f"no model version {version!r} that you may read"
    return NotFound(message, field="version", code="model_version_not_found")
