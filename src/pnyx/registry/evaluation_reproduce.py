"""Reproductions: an auditor (or an operator) re-runs a published evaluation as a job and compares.

``request`` reads the result as its model version is read, checks that the version still holds the
weights the result pins (409 otherwise: there is nothing to reproduce against), and submits a job in
a project the caller names and belongs to (an operator keeps one for auditors, ``audit`` say). The
job reads the model version and the evaluation set as inputs (``models: [VERSION]``, ``datasets:
[EVAL_SET]``) and runs the harness with the weights pinned and the result's config
(``evaluation_checks.harness_command``), with the published job's accelerators and estimate. The
dispatcher's intake takes its ``pnyx-eval.json`` in like any evaluation's (checked, signed, stored,
logged); ``reproduction`` then compares it with the published result.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from pnyx.core.errors import Conflict, InvalidInput
from pnyx.db.unit_of_work import UnitOfWork
from pnyx.identity.model import Principal, Role
from pnyx.identity.rules import require_role
from pnyx.jobs.model import JobRecord
from pnyx.jobs.store import JobRepository
from pnyx.jobs.submission import Submission
from pnyx.registry.evaluation import EvalResult
from pnyx.registry.evaluation_checks import Comparison, comparison, harness_command
from pnyx.registry.evaluation_records import StoredResult
from pnyx.registry.evaluation_service import EvaluationService
from pnyx.registry.lineage_model import FileRole
from pnyx.registry.lineage_store import ModelRepository

REPRODUCERS = (Role.AUDITOR, Role.OPERATOR)
ESTIMATE_S = 3600  # when the published job is not on this server


class ReproductionJobs(Protocol):
    """The jobs side (``JobService``; for auditors, ``adapters.ReproductionJobs``)."""

    def submit(self, principal: Principal, s: Submission) -> JobRecord: ...

    def get(self, principal: Principal, job_id: str) -> JobRecord: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class Reproduction:
    """A reproduction job and, once its result is taken in, the comparison (or why it was refused)."""

    published: StoredResult
    job: JobRecord
    reproduced: StoredResult | None = None
    refusal: str | None = None
    comparison: Comparison | None = None


class ReproductionService:
    def __init__(self, uow: UnitOfWork, *, evaluations: EvaluationService, jobs: ReproductionJobs) -> None:
        self.uow, self.evaluations, self.jobs = uow, evaluations, jobs

    def request(self, principal: Principal, result_id: str, *, project: str | None) -> JobRecord:
        """Submit the job that re-runs result ``result_id`` in ``project``."""
        require_role(principal, *REPRODUCERS)
        if not project:
            raise InvalidInput(
                "name the project the reproduction runs in, one you belong to (an operator keeps one "
                "for auditors, e.g. audit)", field="project", code="project_required",
            )  # fmt: skip
        stored = self.evaluations.result(principal, result_id)
        result = stored.parsed
        self._check_current(result_id, result)
        return self.jobs.submit(principal, self._submission(stored, result, project))

    def reproduction(self, principal: Principal, result_id: str, job_id: str) -> Reproduction:
        published = self.evaluations.result(principal, result_id)
        job = self.jobs.get(principal, job_id)
        if job.command != harness_command(published.parsed):
            raise InvalidInput(f"job {job_id} is not a reproduction of {result_id}", field="job_id",
                               code="not_a_reproduction")  # fmt: skip
        found = self.evaluations.of_job(principal, job_id)
        if found is None:
            return Reproduction(published=published, job=job)
        if not isinstance(found, StoredResult):
            return Reproduction(published=published, job=job, refusal=found.reason)
        compared = comparison(published.parsed, found.parsed)
        return Reproduction(published=published, job=job, reproduced=found, comparison=compared)

    def _check_current(self, result_id: str, result: EvalResult) -> None:
        with self.uow.read() as conn:
            model = ModelRepository(conn).get(result.model)
        weights = None if model is None else model.role(FileRole.WEIGHTS).sha256
        if weights != result.weights_sha256:
            raise Conflict(
                f"model version {result.model} no longer holds the weights result {result_id} pins "
                f"({result.weights_sha256}): it was withdrawn or replaced; there is nothing to reproduce",
                field="result_id", code="pinned_weights_gone",
            )  # fmt: skip

    def _submission(self, stored: StoredResult, result: EvalResult, project: str) -> Submission:
        with self.uow.read() as conn:
            published = JobRepository(conn).get(stored.job_id)
        return Submission(
            name=f"reproduce-{stored.id}", project=project,
            accelerators=1 if published is None else published.accelerators,
            estimate_s=ESTIMATE_S if published is None else published.estimate_s,
            accelerator_type=None if published is None else published.accelerator_type,
            command=harness_command(result), datasets=(result.eval_set,), models=(result.model,),
        )  # fmt: skip
