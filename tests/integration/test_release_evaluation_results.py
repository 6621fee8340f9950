"""Releases gated on real evaluation results, through the platform as wired (both databases): a
model version's file is released with an evaluation named only when a stored result of that version,
signed by the facility and passing, was made on a version of the dataset of that name; a missing,
failing, unsigned or other version's result is refused naming the evaluation. ``licence-provenance``
is answered by the version's lineage."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from pnyx.core.errors import InvalidInput
from pnyx.executors.local import LocalExecutor
from pnyx.identity.model import LOCAL_CONSOLE, Principal
from pnyx.registry.evaluation import EVAL_FILE, EvalResult, result_json
from pnyx.registry.evaluation_store import evaluation_results
from pnyx.registry.lineage_model import FileRole, ModelVersion
from pnyx.registry.lineage_rules import PUBLIC, model_artifact
from pnyx.registry.lineage_store import ModelRepository
from pnyx.registry.samples import write_samples
from pnyx.safety.model import Release, ReleaseStatus
from pnyx.settings import Settings
from pnyx.wiring import Platform
from tests.api.evaluation_world import eval_result
from tests.unit.registry.lineage_outputs import finished_job, import_dataset, outputs, run_for

REQUIRED = ["licence-provenance", "safety-suite"]


class Rig:
    def __init__(self, platform: Platform, tmp_path: Path) -> None:
        self.platform, self.tmp_path = platform, tmp_path
        executor = platform.executors["local"]
        assert isinstance(executor, LocalExecutor)
        self.executor = executor
        self.dataset = import_dataset(platform, tmp_path / "import")
        write_samples(tmp_path / "suite", per_source=2, seed=3)
        suite = platform.datasets.import_directory(LOCAL_CONSOLE, tmp_path / "suite", name="safety-suite")
        self.suite = suite.version.version
        self.officer = self._officer()

    def _officer(self) -> Principal:
        self.platform.identity.register_user(name="sofia", roles=["safety-officer"])
        return self.platform.identity.principal_of("sofia")

    def register(self, job_id: str, seed: int) -> ModelVersion:
        files = outputs(run_for(self.dataset, seed=seed))
        assert (
            self.platform.models.intake(finished_job(self.platform, self.executor, files, job_id=job_id))
            is None
        )
        with self.platform.engine.connect() as conn:
            return next(m for m in ModelRepository(conn).search(name=None, limit=10) if m.job_id == job_id)

    def evaluate(self, result: EvalResult, job_id: str) -> None:
        files = {EVAL_FILE: json.dumps(result_json(result)).encode()}
        job = finished_job(self.platform, self.executor, files, job_id=job_id, models=[result.model])
        assert self.platform.evaluations.intake(job) is None

    def release(self, model: ModelVersion, evaluations: list[str] = REQUIRED) -> Release:
        f = model.role(FileRole.WEIGHTS)
        return self.platform.releases.request(
            self.officer, artifact=model_artifact(model.version, f.path), sha256=f.sha256,
            from_label=model.label, to_label=PUBLIC, evaluations=evaluations,
        )  # fmt: skip


@pytest.fixture
def settings(database_url: str, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """The platform's settings with a job root of this test's own (outside its data directory)."""
    return Settings.from_env({
        "PNYX_DATABASE_URL": database_url, "PNYX_DATA_DIR": str(tmp_path),
        "PNYX_LOG_ORIGIN": "test.pnyx.example/log", "PNYX_JOB_ROOT": str(tmp_path_factory.mktemp("jobs")),
    })  # fmt: skip


@pytest.fixture
def rig(platform: Platform, tmp_path: Path) -> Rig:
    return Rig(platform, tmp_path)


def _refused(rig: Rig, model: ModelVersion) -> InvalidInput:
    with pytest.raises(InvalidInput) as refused:
        rig.release(model)
    assert refused.value.field == "evaluations"
    assert refused.value.code == "evaluation_result_missing"
    assert "evaluation safety-suite" in refused.value.message
    assert rig.platform.releases.releases() == []  # nothing requested
    return refused.value


def test_a_release_without_a_result_is_refused_naming_the_evaluation(rig: Rig) -> None:
    model = rig.register("job_train01", seed=7)
    _refused(rig, model)


def test_a_passing_signed_result_of_the_version_lets_the_release_proceed(rig: Rig) -> None:
    model = rig.register("job_train01", seed=7)
    rig.evaluate(eval_result(model, rig.suite), "job_eval01")

    release = rig.release(model)

    assert release.status is ReleaseStatus.RELEASED  # L1: no approvals needed
    assert release.evaluations == tuple(REQUIRED)


def test_a_result_of_another_version_or_set_or_a_failing_one_does_not_count(rig: Rig) -> None:
    model, other = rig.register("job_train01", seed=7), rig.register("job_train02", seed=8)
    rig.evaluate(eval_result(other, rig.suite), "job_eval01")  # another model version's
    rig.evaluate(eval_result(model, rig.dataset.version), "job_eval02")  # on a set of another name
    rig.evaluate(eval_result(model, rig.suite, passed=0), "job_eval03")  # the harness says it failed
    _refused(rig, model)
    rig.release(other)  # the other version's own result counts for it


def test_a_result_whose_signature_does_not_verify_does_not_count(rig: Rig) -> None:
    model = rig.register("job_train01", seed=7)
    rig.evaluate(eval_result(model, rig.suite), "job_eval01")
    with rig.platform.engine.begin() as conn:
        conn.execute(
            evaluation_results.update().values(
                signature=sa.func.replace(evaluation_results.c.signature, "—", "-")
            )
        )
    _refused(rig, model)


def test_a_job_outputs_evaluations_stay_attested_by_name(rig: Rig) -> None:
    files = {"notes.txt": b"findings\n"}
    job = finished_job(rig.platform, rig.executor, files, job_id="job_notes", inputs=[])
    release = rig.platform.releases.request(
        rig.officer, artifact=f"{job.id}/notes.txt", sha256=_sha256(files["notes.txt"]),
        from_label=job.label, to_label=PUBLIC, evaluations=REQUIRED,
    )  # fmt: skip
    assert release.status is ReleaseStatus.RELEASED


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
