"""Evaluation results: a finished job's ``pnyx-eval.json`` checked, signed by the facility, stored.

``intake`` is a dispatcher hook like the model intake (``RegistryIntake`` runs both): a completed
job whose recorded outputs hold ``pnyx-eval.json`` has it read through its engine's reader into the
blob store, checked against the digest recorded when the job ended (``lineage_intake
.RecordedOutputs``), parsed strictly (``evaluation.parse_result``), and checked against the model
version it pins: the version must be one of the job's model inputs, exist, and its weights' SHA-256
equal the result's. The result is
then signed with the transparency log's key as a signed note (anyone verifies it with ``/log/key``)
and stored with its public ``registry.evaluation.recorded`` entry in one transaction; or refused,
the refusal recorded with its reason. Each job attempt is taken in once. Results are read as the
model version they are of is (public once the version is).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime

from pnyx.core.errors import InvalidInput, NotFound, Unavailable
from pnyx.db.unit_of_work import UnitOfWork
from pnyx.identity.model import Principal
from pnyx.jobs.executor import OutputReader
from pnyx.jobs.model import InputKind, JobArtifact, JobRecord, JobStatus
from pnyx.jobs.store import ArtifactRepository
from pnyx.registry.blobs import BlobStore
from pnyx.registry.evaluation import EVAL_FILE, RESULT_MAX_BYTES, EvalResult, parse_result, signing_text
from pnyx.registry.evaluation_checks import Comparison, comparison
from pnyx.registry.evaluation_records import (
    EvaluationRefused,
    StoredResult,
    note_text,
    recorded,
    result_id,
)
from pnyx.registry.evaluation_store import EvaluationRepository
from pnyx.registry.lineage_intake import RecordedOutputs, decide, intake_row
from pnyx.registry.lineage_model import FileRole, Intake, IntakeOutcome
from pnyx.registry.lineage_service import ModelService
from pnyx.registry.lineage_store import ModelRepository
from pnyx.transparency.note import NoteSigner

LIST_LIMIT = 500


class EvaluationService:
    def __init__(
        self,
        uow: UnitOfWork,
        *,
        blobs: BlobStore,
        readers: Mapping[str, OutputReader],
        models: ModelService,
        signer: NoteSigner | None,
    ) -> None:
        """``signer``: the transparency log's key (results are signed with it); ``models``: whose
        reading rules a result's readers follow."""
        self.uow, self.blobs, self.readers = uow, blobs, readers
        self.models, self.signer = models, signer

    # --- intake (the dispatcher's hook) ----------------------------------------------------------

    def intake(self, job: JobRecord) -> str | None:
        """Store the evaluation result a completed job's outputs hold, once per attempt; the
        refusal's message when a check fails (recorded, nothing stored); None otherwise."""
        recorded_outputs = self._untaken_outputs(job)
        if recorded_outputs is None:
            return None
        found = decide(lambda: self._check(job, recorded_outputs))
        if isinstance(found, InvalidInput):
            return self._refuse(job, found)
        self._store(job, found)
        return None

    def untaken(self, *, since: datetime, limit: int) -> list[JobRecord]:
        """Completed jobs with a recorded ``pnyx-eval.json`` not yet taken in (a crash between)."""
        with self.uow.read() as conn:
            return EvaluationRepository(conn).untaken(since=since, limit=limit, name=EVAL_FILE)

    def _untaken_outputs(self, job: JobRecord) -> list[JobArtifact] | None:
        if job.status is not JobStatus.COMPLETED:
            return None
        with self.uow.read() as conn:  # the intake row only where there is a result to take in
            recorded = ArtifactRepository(conn).of_attempt(job.id, job.attempt)
            if not any(a.path == EVAL_FILE for a in recorded):
                return None
            return None if EvaluationRepository(conn).intake(job.id, job.attempt) is not None else recorded

    def _check(self, job: JobRecord, recorded_outputs: Sequence[JobArtifact]) -> EvalResult:
        outputs = RecordedOutputs.of(self.readers, job, recorded_outputs, self.blobs)
        blob = outputs.store(EVAL_FILE, RESULT_MAX_BYTES)
        with self.blobs.open(blob.sha256) as f:
            result = parse_result(f.read(RESULT_MAX_BYTES + 1))
        _check_given(job, result)
        self._check_pinned(result)
        return result

    def _check_pinned(self, result: EvalResult) -> None:
        with self.uow.read() as conn:
            model = ModelRepository(conn).get(result.model)
        if model is None:
            raise InvalidInput(f"{EVAL_FILE}: model version {result.model} is not in the registry",
                               field="model", code="model_version_unknown")  # fmt: skip
        weights = model.role(FileRole.WEIGHTS).sha256
        if weights != result.weights_sha256:
            raise InvalidInput(
                f"{EVAL_FILE}: pinned digest does not match: weights_sha256 {result.weights_sha256} is "
                f"not model version {model.version}'s weights ({weights})",
                field="weights_sha256",
                code="pinned_digest_mismatch",
            )

    def _sign(self, result: EvalResult) -> str:
        if self.signer is None:
            raise Unavailable("the log has no signing key to sign evaluation results: run `pnyx log keygen`",
                              code="log_key_missing")  # fmt: skip
        return self.signer.sign(note_text(result))

    def _store(self, job: JobRecord, result: EvalResult) -> None:
        signature = self._sign(result)
        with self.uow.write() as tx:
            repo = EvaluationRepository(tx.conn)
            if repo.intake(job.id, job.attempt) is not None:
                return
            stored = StoredResult(
                id=result_id(job.id, job.attempt, result), job_id=job.id, attempt=job.attempt,
                result=signing_text(result), signature=signature, created_at=tx.now,
            )  # fmt: skip
            repo.add(stored, result)
            repo.add_intake(intake_row(job, IntakeOutcome.REGISTERED, tx.now, version=stored.id))
            tx.emit(recorded(stored, result))

    def _refuse(self, job: JobRecord, exc: InvalidInput) -> str:
        with self.uow.write() as tx:
            repo = EvaluationRepository(tx.conn)
            if repo.intake(job.id, job.attempt) is None:
                row = intake_row(job, IntakeOutcome.REFUSED, tx.now, reason=exc.message, code=exc.code)
                repo.add_intake(row)
                tx.emit(EvaluationRefused(job_id=job.id, attempt=job.attempt, code=exc.code))
        return exc.message

    # --- reading ---------------------------------------------------------------------------------

    def results(
        self, principal: Principal, model_version: str, limit: int = LIST_LIMIT
    ) -> list[StoredResult]:
        """The version's results, newest first, for whoever may read the version."""
        self.models.get(principal, model_version)
        with self.uow.read() as conn:
            return EvaluationRepository(conn).of_model(model_version, limit)

    def result(self, principal: Principal, result_id: str) -> StoredResult:
        """The result, if ``principal`` may read its model version; NotFound alike otherwise."""
        with self.uow.read() as conn:
            found = EvaluationRepository(conn).get(result_id)
        try:
            if found is not None:
                self.models.get(principal, found[0])
                return found[1]
        except NotFound:
            pass
        raise NotFound(f"no evaluation result {result_id!r} that you may read", field="result_id",
                       code="evaluation_not_found")  # fmt: skip

    def comparison(self, principal: Principal, a: str, b: str) -> Comparison:
        """Result ``b`` against result ``a`` (published): agreement within ``a``'s tolerance."""
        return comparison(self.result(principal, a).parsed, self.result(principal, b).parsed)

    def of_job(self, principal: Principal, job_id: str) -> StoredResult | Intake | None:
        """What the intake made of the job's latest attempt taken in: its result (if ``principal``
        may read it), the refusal, or None before it is taken in."""
        with self.uow.read() as conn:
            intake = EvaluationRepository(conn).last_intake(job_id)
        if intake is None or intake.version is None:
            return intake
        return self.result(principal, intake.version)


def _check_given(job: JobRecord, result: EvalResult) -> None:
    """A result is of a model version the job was given as an input (``models: [VERSION]``)."""
    given = [i.version for i in job.inputs if i.kind is InputKind.MODEL]
    if result.model not in given:
        raise InvalidInput(
            f"{EVAL_FILE}: model version {result.model} is not among the job's model inputs "
            f"({', '.join(given) or 'none'}): an evaluation job is given the model it scores",
            field="model", code="model_not_an_input",
        )  # fmt: skip


class RegistryIntake:
    """The dispatcher's intake (``dispatch.outputs.ModelIntake``, ``CheckpointIntake``): a finished
    job's outputs taken in as a model version and as an evaluation result, whichever they hold."""

    def __init__(self, models: ModelService, evaluations: EvaluationService) -> None:
        self.models, self.evaluations = models, evaluations

    def intake(self, job: JobRecord) -> str | None:
        refusals = [r for r in (self.models.intake(job), self.evaluations.intake(job)) if r is not None]
        return "; ".join(refusals) or None

    def untaken(self, *, since: datetime, limit: int) -> list[JobRecord]:
        found = {j.id: j for j in self.models.untaken(since=since, limit=limit)}
        found |= {j.id: j for j in self.evaluations.untaken(since=since, limit=limit)}
        return list(found.values())[:limit]

    def take_checkpoints(self, job: JobRecord, refused: Collection[int]) -> dict[int, str]:
        return self.models.take_checkpoints(job, refused)
