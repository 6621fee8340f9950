"""Checkpoints registered while their job runs (both databases), through the real local executor's
checkpoint reader: each as it appears, once, with its public entry; refused when its marker is not
of the attempt's run; linked by the model version when the job ends, which refuses a job that
rewrote a checkpoint after it was registered and registers those listed but not seen running."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from pnyx.core.errors import NotFound
from pnyx.core.ids import UserId
from pnyx.db.outbox import outbox
from pnyx.executors.local import LocalExecutor
from pnyx.identity.model import Principal, Role
from pnyx.jobs.model import JobRecord
from pnyx.registry.blobs import BlobStore
from pnyx.registry.lineage_events import files_digest
from pnyx.registry.lineage_model import IntakeOutcome
from pnyx.registry.lineage_service import ModelService, StoredDatasets
from pnyx.wiring import Platform
from tests.integration.release_world import FakeMembers
from tests.unit.registry.lineage_outputs import Run, import_dataset, outputs, run_for
from tests.unit.registry.running_jobs import P1, checkpoint_files, finish, running_job, write_outputs

ADA = Principal(user_id=UserId("usr_ada"), name="ada", roles=frozenset({Role.RESEARCHER}))
BOB = Principal(user_id=UserId("usr_bob"), name="bob", roles=frozenset({Role.RESEARCHER}))
CHECKPOINT_EVENT = "registry.checkpoint.registered"


@dataclass
class World:
    platform: Platform
    executor: LocalExecutor
    models: ModelService
    run: Run

    def start(self, job_id: str = "job_train01", inputs: tuple[str, ...] | None = None) -> JobRecord:
        """A running job given ``inputs`` (default: the run's dataset, as a job submitted with it)."""
        return running_job(
            self.platform, self.executor, job_id, (self.run.dataset,) if inputs is None else inputs
        )

    def write(self, job: JobRecord, files: dict[str, bytes]) -> None:
        write_outputs(self.executor, job, files)

    def finish(self, job: JobRecord) -> JobRecord:
        return finish(self.platform, self.executor, job)


@pytest.fixture
def world(platform: Platform, tmp_path: Path) -> World:
    executor = LocalExecutor(tmp_path / "jobs")
    models = ModelService(
        platform.uow, blobs=BlobStore(platform.settings.data_dir / "registry"),
        datasets=StoredDatasets(platform.uow),
        readers={"local": executor}, members=FakeMembers(teams={"p1": {"ada"}}, labels={"p1": P1}),
        releases=platform.releases, log=platform.log, jobs=platform.jobs,
    )  # fmt: skip
    return World(platform, executor, models, run_for(import_dataset(platform, tmp_path / "import")))


def _events(platform: Platform, event_type: str) -> list[dict[str, Any]]:
    with platform.engine.connect() as conn:
        rows = conn.execute(sa.select(outbox.c.entry).where(outbox.c.event_type == event_type)).scalars()
        return [json.loads(row)["data"] for row in rows]


def test_checkpoints_are_registered_as_they_are_written_and_linked_at_the_end(world: World) -> None:
    files = outputs(world.run)
    job = world.start(inputs=(world.run.dataset,))
    assert world.models.take_checkpoints(job, ()) == {}  # nothing written yet
    world.write(job, checkpoint_files(files, 2))
    assert world.models.take_checkpoints(job, ()) == {}
    (first,) = world.models.job_checkpoints(ADA, job.id)
    assert (first.step, first.dir, first.dataset, first.config_hash) == (
        2, "checkpoints/step-000002", world.run.dataset, world.run.config_hash,
    )  # fmt: skip
    assert sorted(f.path.rsplit("/", 1)[1] for f in first.files) == [".metadata", "__0_0.distcp",
                                                                     "pnyx-checkpoint.json"]  # fmt: skip
    world.write(job, checkpoint_files(files, 4))
    world.models.take_checkpoints(job, ())
    world.models.take_checkpoints(job, ())  # nothing new: nothing registered twice
    logged = _events(world.platform, CHECKPOINT_EVENT)
    assert [(e["step"], e["files"]) for e in logged] == [(2, 3), (4, 3)]
    assert logged[0]["files_sha256"] == files_digest(first.files)
    world.write(job, files)  # the rest: weights, data order, metrics, pnyx-model.json
    assert world.models.intake(world.finish(job)) is None
    (intake,) = world.models.intakes(ADA, job.id)
    assert intake.outcome is IntakeOutcome.REGISTERED
    assert intake.version is not None
    lineage = world.models.lineage(ADA, intake.version)
    assert [c.step for c in lineage.checkpoints] == [2, 4]
    assert lineage.checkpoints[0].recorded_at == first.recorded_at  # registered while it ran, kept
    assert len(_events(world.platform, CHECKPOINT_EVENT)) == 2  # none again at the end
    (registered,) = _events(world.platform, "registry.model.registered")
    assert registered["checkpoints"] == 2


def test_a_checkpoint_of_another_run_is_refused_and_not_looked_at_again(world: World) -> None:
    files = outputs(world.run)
    other = outputs(replace(world.run, config={"d_model": 32, "layers": 2, "lr": 0.001}))
    job = world.start()
    world.write(job, checkpoint_files(files, 2) | checkpoint_files(other, 4))
    refused = world.models.take_checkpoints(job, ())
    assert list(refused) == [4]
    assert "its config_hash is" in refused[4]
    assert "step 2's (registered before)" in refused[4]
    assert [c.step for c in world.models.job_checkpoints(ADA, job.id)] == [2]
    assert world.models.take_checkpoints(job, refused) == {}  # the dispatcher remembers the refusal
    bad = {"checkpoints/step-000006/pnyx-checkpoint.json": b'{"step": 6, "step": 6}'}
    world.write(job, bad)
    assert "a key appears twice" in world.models.take_checkpoints(job, {4})[6]
    assert [e["step"] for e in _events(world.platform, CHECKPOINT_EVENT)] == [2]


def test_a_dataset_the_job_does_not_read_is_refused(world: World) -> None:
    job = world.start(inputs=("f" * 64,))
    world.write(job, checkpoint_files(outputs(world.run), 2))
    assert "is not among the job's inputs" in world.models.take_checkpoints(job, ())[2]


def test_a_job_that_rewrote_a_registered_checkpoint_has_its_model_refused(world: World) -> None:
    files = outputs(world.run)
    job = world.start()
    world.write(job, checkpoint_files(files, 2))
    world.models.take_checkpoints(job, ())
    rewritten = files | {"checkpoints/step-000002/__0_0.distcp": b"history, rewritten"}
    world.write(job, rewritten)
    refusal = world.models.intake(world.finish(job))
    assert refusal is not None
    assert "the job rewrote it since" in refusal
    (intake,) = world.models.intakes(ADA, job.id)
    assert (intake.outcome, intake.code) == (IntakeOutcome.REFUSED, "checkpoint_rewritten")
    assert [c.step for c in world.models.job_checkpoints(ADA, job.id)] == [2]  # what was, stays


def test_checkpoints_not_seen_while_running_are_registered_at_the_end(world: World) -> None:
    files = outputs(world.run)
    job = world.start()
    world.write(job, checkpoint_files(files, 2))
    world.models.take_checkpoints(job, ())
    world.write(job, files)  # step 4 written and the job ended before the next look
    assert world.models.intake(world.finish(job)) is None
    assert [c.step for c in world.models.job_checkpoints(ADA, job.id)] == [2, 4]
    assert [e["step"] for e in _events(world.platform, CHECKPOINT_EVENT)] == [2, 4]
    assert world.models.job_checkpoints(ADA, job.id)[1].dataset == world.run.dataset


def test_nothing_is_registered_once_the_model_was_taken_in_or_for_a_job_not_running(world: World) -> None:
    files = outputs(world.run)
    job = world.start()
    world.write(job, files)
    done = world.finish(job)
    assert world.models.intake(done) is None
    world.write(job, checkpoint_files(outputs(replace(world.run, checkpoints=(6,))), 6))  # written late
    assert world.models.take_checkpoints(job, ()) == {}  # a stale RUNNING record: the intake decided
    assert world.models.take_checkpoints(done, ()) == {}
    assert [c.step for c in world.models.job_checkpoints(ADA, job.id)] == [2, 4]


def test_a_jobs_checkpoints_are_read_by_whoever_sees_the_job(world: World) -> None:
    job = world.start()
    world.write(job, checkpoint_files(outputs(world.run), 2))
    world.models.take_checkpoints(job, ())
    assert [c.step for c in world.models.job_checkpoints(ADA, job.id)] == [2]
    with pytest.raises(NotFound):
        world.models.job_checkpoints(BOB, job.id)
    with pytest.raises(NotFound):
        world.models.job_checkpoints(ADA, "job_absent")
