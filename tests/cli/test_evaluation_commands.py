"""`pnyx eval ...` through the real wiring (both databases): results listed, shown (JSON with the
signed note) and compared (exit 0 agreement, 1 a difference); `reproduce` submits the job in a real
awarded project and reports agreement (exit 0) or the differing metric (exit 1), errors exit 2. The
reproduction job is finished by hand in the local executor's layout (no dispatcher runs it here)."""

from __future__ import annotations

import dataclasses
import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from pnyx.cli.main import app
from pnyx.executors.local import LocalExecutor
from pnyx.executors.local_outputs import OutputCaps, hash_outputs
from pnyx.identity.model import LOCAL_CONSOLE
from pnyx.jobs.model import JobStatus
from pnyx.jobs.store import JobRepository
from pnyx.registry.evaluation import EVAL_FILE, EvalResult, result_json
from pnyx.registry.evaluation_records import StoredResult
from pnyx.registry.lineage_store import ModelRepository
from pnyx.registry.model import DatasetVersion
from pnyx.settings import Settings
from pnyx.wiring import Platform
from tests.api.evaluation_world import eval_result
from tests.integration.test_job_safety import Facility
from tests.unit.registry.lineage_outputs import finished_job, import_dataset, outputs, run_for, write

runner = CliRunner()
WHEN = datetime(2026, 11, 25, 10, tzinfo=UTC)


def _env(settings: Settings) -> dict[str, str]:
    return {
        "PNYX_DATABASE_URL": settings.database_url, "PNYX_DATA_DIR": str(settings.data_dir),
        "PNYX_LOG_ORIGIN": "test.pnyx.example/log", "PNYX_JOB_ROOT": str(settings.job_root), "COLUMNS": "250",
    }  # fmt: skip


@pytest.fixture
def settings(database_url: str, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    env = {"PNYX_DATABASE_URL": database_url, "PNYX_DATA_DIR": str(tmp_path)}
    return Settings.from_env(
        env | {"PNYX_LOG_ORIGIN": "x", "PNYX_JOB_ROOT": str(tmp_path_factory.mktemp("jobs"))}
    )


class Rig:
    def __init__(self, platform: Platform, settings: Settings, tmp_path: Path) -> None:
        self.platform, self.env = platform, _env(settings)
        executor = platform.executors["local"]
        assert isinstance(executor, LocalExecutor)
        self.executor = executor
        self.dataset: DatasetVersion = import_dataset(platform, tmp_path / "import")
        job = finished_job(platform, executor, outputs(run_for(self.dataset)))
        assert platform.models.intake(job) is None
        with platform.engine.connect() as conn:
            (self.model,) = ModelRepository(conn).search(name=None, limit=2)
        self.published = self.publish(self.result(), "job_eval01")

    def result(self, loss: float = 2.25) -> EvalResult:
        return eval_result(self.model, self.dataset.version, loss=loss)

    def publish(self, result: EvalResult, job_id: str) -> StoredResult:
        files = {EVAL_FILE: json.dumps(result_json(result)).encode()}
        job = finished_job(self.platform, self.executor, files, job_id=job_id, models=[result.model])
        assert self.platform.evaluations.intake(job) is None
        (found,) = [
            s
            for s in self.platform.evaluations.results(LOCAL_CONSOLE, self.model.version)
            if s.job_id == job_id
        ]
        return found

    def finish(self, job_id: str, result: EvalResult) -> None:
        """The reproduction ended on the local engine having written ``result``; taken in."""
        with self.platform.engine.begin() as conn:
            repo = JobRepository(conn)
            job = repo.get(job_id)
            assert job is not None
            key = f"{job_id}-a{job.attempt}"
            done = dataclasses.replace(job, status=JobStatus.COMPLETED, engine="local", engine_job_id=key,
                                       started_at=WHEN, ended_at=WHEN)  # fmt: skip
            repo.save(done)
        write(
            self.executor.layout.work(key) / "outputs", {EVAL_FILE: json.dumps(result_json(result)).encode()}
        )
        self.platform.jobs.record_artifacts(
            job_id, hash_outputs(self.executor.layout.work(key), OutputCaps()).artifacts
        )
        assert self.platform.evaluations.intake(done) is None

    def run(self, *args: str) -> Result:
        return runner.invoke(app, ["eval", *args], env=self.env)


@pytest.fixture
def rig(platform: Platform, settings: Settings, tmp_path: Path) -> Rig:
    return Rig(platform, settings, tmp_path)


def test_results_are_listed_shown_and_compared(rig: Rig) -> None:
    far = rig.publish(rig.result(loss=2.5), "job_eval02")

    listed = rig.run("list", "--model", rig.model.version)
    shown = json.loads(rig.run("show", rig.published.id, "--json").output)
    same = rig.run("compare", rig.published.id, rig.published.id)
    differs = rig.run("compare", rig.published.id, far.id, "--json")

    assert listed.exit_code == 0
    assert {rig.published.id, far.id} <= set(listed.output.split())
    assert shown["canonical"].encode() == rig.published.result
    assert shown["signature"].startswith(shown["canonical"] + "\n\n— ")
    assert (same.exit_code, "agrees" in same.output) == (0, True)
    assert differs.exit_code == 1
    [gap] = json.loads(differs.output)["metrics"]
    assert (gap["name"], gap["published"], gap["reproduced"], gap["tolerance"]) == ("loss", 2.25, 2.5, 0.01)


def test_reproduce_submits_the_job_then_reports_agreement_or_the_difference(rig: Rig) -> None:
    project = Facility(rig.platform).project("alice", hours=100_000)

    made = rig.run("reproduce", rig.published.id, "--project", project)
    assert made.exit_code == 0, made.output
    found = re.search(r"submitted (job_\w+)", made.output)
    assert found is not None
    rig.finish(found.group(1), rig.result())
    agreed = rig.run("reproduce", rig.published.id, "--job", found.group(1), "--wait")

    assert agreed.exit_code == 0, agreed.output
    assert f"agrees with {rig.published.id} within the declared tolerance" in agreed.output

    again = re.search(r"submitted (job_\w+)", rig.run("reproduce", rig.published.id, "-p", project).output)
    assert again is not None
    rig.finish(again.group(1), rig.result(loss=2.4))
    differs = rig.run("reproduce", rig.published.id, "--job", again.group(1), "--wait")

    assert differs.exit_code == 1, differs.output
    assert "metric loss: published 2.25, reproduced 2.4" in differs.output


def test_reproduce_errors_exit_2_naming_what_is_wrong(rig: Rig) -> None:
    unknown = rig.run("reproduce", "eval_" + "0" * 32, "--project", "audit")
    no_project = rig.run("reproduce", rig.published.id)

    assert unknown.exit_code == no_project.exit_code == 2
    assert "evaluation_not_found" in unknown.output
    assert "project_required" in no_project.output
