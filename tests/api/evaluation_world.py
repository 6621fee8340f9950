"""A registered model version with evaluation results, and reproduction jobs run to completion: the
evaluation service over the real blob store and the real local executor's reader, jobs submitted to
a fake engine (no sandbox runs the harness here) and then finished with a hand-written
``pnyx-eval.json`` in the local executor's layout, as the dispatcher would record them."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa

from pnyx.adapters import RegistryInputs, RegistryModels, ReproductionJobs
from pnyx.executors.fake import FakeExecutor
from pnyx.executors.local_outputs import OutputCaps, hash_outputs
from pnyx.jobs.model import JobRecord, JobStatus
from pnyx.jobs.service import JobService, ProjectInfo
from pnyx.jobs.store import JobRepository
from pnyx.jobs.topology import fit_check
from pnyx.registry.evaluation import EVAL_FILE, EvalResult, Scalar, config_digest, result_json
from pnyx.registry.evaluation_records import StoredResult
from pnyx.registry.evaluation_reproduce import ReproductionService
from pnyx.registry.evaluation_service import EvaluationService
from pnyx.registry.lineage_model import FileRole, ModelVersion
from pnyx.registry.lineage_store import model_files
from pnyx.wiring import Platform
from tests.integration.release_world import FakeMembers
from tests.integration.test_job_safety import SafetyProjects
from tests.unit.registry.lineage_outputs import finished_job, write
from tests.unit.registry.test_lineage_service import ADA, World, build_world

HARNESS = "ab" * 32
CONFIG: dict[str, Scalar] = {"batch_size": 8, "model_config_hash": "cd" * 32}
WHEN = datetime(2026, 11, 25, 10, tzinfo=UTC)


def eval_result(model: ModelVersion, eval_set: str, *, loss: float = 2.25, **metrics: float) -> EvalResult:
    found = {"loss": loss, "accuracy": 0.5, **metrics}
    return EvalResult(
        model=model.version, weights_sha256=model.role(FileRole.WEIGHTS).sha256, eval_set=eval_set,
        harness_digest=HARNESS, config=tuple(sorted(CONFIG.items())), config_hash=config_digest(CONFIG),
        metrics=tuple(sorted(found.items())), tolerance=(("loss", 0.01),),
    )  # fmt: skip


@dataclass
class EvalWorld:
    world: World
    jobs: JobService  # on a fake engine
    evaluations: EvaluationService
    reproductions: ReproductionService
    model: ModelVersion  # p1's, unreleased
    projects: SafetyProjects

    @property
    def platform(self) -> Platform:
        return self.world.platform

    def wired(self) -> Platform:
        """The platform with these services in place of its own."""
        return dataclasses.replace(
            self.platform, jobs=self.jobs, evaluations=self.evaluations, reproductions=self.reproductions
        )

    def publish(self, result: EvalResult, job_id: str) -> StoredResult:
        """A finished evaluation job given the model, its result taken in."""
        files = {EVAL_FILE: json.dumps(result_json(result)).encode()}
        job = finished_job(self.platform, self.world.executor, files, job_id=job_id, models=[result.model])
        assert self.evaluations.intake(job) is None
        return next(s for s in self.evaluations.results(ADA, result.model) if s.job_id == job_id)

    def finish(self, job_id: str, result: EvalResult) -> JobRecord:
        """The submitted job ended on the local engine, having written ``result``; taken in."""
        key = f"{job_id}-a0"
        write(
            self.world.executor.layout.work(key) / "outputs",
            {EVAL_FILE: json.dumps(result_json(result)).encode()},
        )
        with self.platform.engine.begin() as conn:
            repo = JobRepository(conn)
            job = repo.get(job_id)
            assert job is not None
            done = dataclasses.replace(job, status=JobStatus.COMPLETED, engine="local", engine_job_id=key,
                                       started_at=WHEN, ended_at=WHEN)  # fmt: skip
            repo.save(done)
        self.jobs.record_artifacts(
            job_id, hash_outputs(self.world.executor.layout.work(key), OutputCaps()).artifacts
        )
        self.evaluations.intake(done)
        return done

    def replace_weights(self) -> None:
        """The version's weights row no longer what results pinned (a replaced model)."""
        c = model_files.c
        with self.platform.engine.begin() as conn:
            conn.execute(
                model_files.update().where(c.version == self.model.version, c.role == FileRole.WEIGHTS.value)
                .values(sha256="9" * 64)
            )  # fmt: skip


def build_eval_world(platform: Platform, tmp_path: Path, auditors: frozenset[str]) -> EvalWorld:
    """p1's member ``researcher`` trained the model; ``audit`` is the auditors' project."""
    platform.inventory.generate(64, seed=1)
    world = build_world(platform, tmp_path)
    model = world.register()
    members = world.models.members
    assert isinstance(members, FakeMembers)
    members.teams["p1"].add("researcher")
    projects = SafetyProjects()
    projects.known["audit"] = ProjectInfo(id="audit", member_state="DE", members=auditors, over_budget=False)
    jobs = JobService(
        platform.uow, projects=projects, fits=fit_check(platform.topology),
        executors={"fake": FakeExecutor()}, default_engine="fake",
        datasets=RegistryInputs(lambda: platform.datasets), models=RegistryModels(lambda: world.models),
    )  # fmt: skip
    evaluations = EvaluationService(
        platform.uow, blobs=world.blobs, readers={"local": world.executor}, models=world.models,
        signer=platform.log.signer,
    )  # fmt: skip
    reproductions = ReproductionService(platform.uow, evaluations=evaluations, jobs=ReproductionJobs(jobs))
    return EvalWorld(world, jobs, evaluations, reproductions, model, projects)


def count(platform: Platform, table: sa.Table) -> int:
    with platform.engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())
