"""Real sandboxed local jobs write training outputs; the dispatcher records them and the registry
takes them in (or refuses, in the cycle's report); a new leader registers what a crash left between
recording and registering. Both databases."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest

from pnyx.core.clock import SystemClock
from pnyx.db.unit_of_work import UnitOfWork
from pnyx.dispatch.leadership import leadership_for
from pnyx.dispatch.loop import Dispatcher
from pnyx.dispatch.outputs import ModelIntake
from pnyx.executors.local import LocalExecutor
from pnyx.jobs.model import JobStatus
from pnyx.jobs.service import JobService, Submission
from pnyx.jobs.topology import fit_check
from pnyx.registry.blobs import BlobStore
from pnyx.registry.lineage_model import IntakeOutcome
from pnyx.registry.lineage_service import ModelService, StoredDatasets
from pnyx.safety.model import Label, SafetyLevel
from pnyx.scheduler.policy import policy_named
from pnyx.wiring import Platform
from tests.dispatch.conftest import ADA, FakeProjects
from tests.executors.job_root import JOB_PYTHON, temporary_job_root
from tests.integration.release_world import FakeMembers
from tests.unit.registry.lineage_outputs import import_dataset, job_command, outputs, run_for

OPEN_LLM = Label(level=SafetyLevel.L1, categories=frozenset({"project:open-llm"}))
TEAM = FakeMembers(teams={"open-llm": {"ada"}}, labels={"open-llm": OPEN_LLM})


@dataclass
class Facility:
    platform: Platform
    jobs: JobService
    executor: LocalExecutor
    models: ModelService
    tmp_path: Path

    def dispatcher(self, intake: ModelIntake | None) -> Dispatcher:
        return Dispatcher(
            jobs=self.jobs,
            topology=self.platform.topology.topology,
            executors={"local": self.executor},
            shares=lambda _at: {"DE": Decimal(1)},
            clock=SystemClock(),
            policy=policy_named("full"),
            leadership=leadership_for(self.platform.engine, self.tmp_path),
            intake=intake,
        )

    def submit(self, files: dict[str, bytes]) -> str:
        submission = Submission(
            name="train", project="open-llm", accelerators=2, estimate_s=60,
            command=job_command(JOB_PYTHON, files),
        )  # fmt: skip
        return self.jobs.submit(ADA, submission).id


@pytest.fixture
def facility(platform: Platform, tmp_path: Path) -> Iterator[Facility]:
    platform.inventory.generate(64, seed=1)
    uow = UnitOfWork(engine=platform.engine, clock=SystemClock())
    with temporary_job_root() as root:
        executor = LocalExecutor(root)
        jobs = JobService(
            uow, projects=FakeProjects(), fits=fit_check(platform.topology), executors={"local": executor},
            default_engine="local",
        )  # fmt: skip
        models = ModelService(
            uow, blobs=BlobStore(platform.settings.data_dir / "registry"),
            staging=platform.settings.data_dir / "registry" / "incoming", datasets=StoredDatasets(uow),
            readers={"local": executor}, members=TEAM, releases=platform.releases, log=platform.log,
            jobs=jobs,
        )  # fmt: skip
        yield Facility(platform, jobs, executor, models, tmp_path)
        executor.close()


def _until_recorded(dispatcher: Dispatcher, facility: Facility, job_id: str) -> list[str]:
    """Cycle until the job completed and its outputs were handled; the errors reported meanwhile."""
    errors: list[str] = []
    deadline = time.monotonic() + 30
    while facility.jobs.get(ADA, job_id).status is not JobStatus.COMPLETED:
        assert time.monotonic() < deadline, facility.jobs.get(ADA, job_id)
        errors += dispatcher.cycle().errors
        time.sleep(0.05)
    assert dispatcher.outputs.wait(timeout=30)
    return errors + dispatcher.cycle().errors


def test_a_training_job_run_by_the_dispatcher_becomes_a_model_version(
    facility: Facility, tmp_path: Path
) -> None:
    run = run_for(import_dataset(facility.platform, tmp_path / "import"))
    files = outputs(run)
    swapped = files["data-order.jsonl"].splitlines(keepends=True)
    swapped[0], swapped[1] = swapped[1], swapped[0]  # rank 1's line first
    good = facility.submit(files)
    bad = facility.submit(files | {"data-order.jsonl": b"".join(swapped)})
    dispatcher = facility.dispatcher(facility.models)
    try:
        errors = _until_recorded(dispatcher, facility, good) + _until_recorded(dispatcher, facility, bad)
    finally:
        dispatcher.close()
    (registered,) = facility.models.intakes(ADA, good)
    assert registered.outcome is IntakeOutcome.REGISTERED
    assert registered.version is not None
    model = facility.models.get(ADA, registered.version)
    assert (model.job_id, model.project, model.steps) == (good, "open-llm", run.steps)
    (refused,) = facility.models.intakes(ADA, bad)
    assert refused.outcome is IntakeOutcome.REFUSED
    assert "data-order line 1 (step 0, rank 1) differs" in refused.reason
    assert any(f"job {bad}: outputs not registered as a model: data-order line 1" in e for e in errors)


def test_a_new_leader_registers_outputs_recorded_before_a_crash(facility: Facility, tmp_path: Path) -> None:
    run = run_for(import_dataset(facility.platform, tmp_path / "import"))
    job_id = facility.submit(outputs(run))
    first = facility.dispatcher(None)  # records outputs, then "crashes" before any intake
    try:
        _until_recorded(first, facility, job_id)
    finally:
        first.close()
    assert facility.models.intakes(ADA, job_id) == []
    second = facility.dispatcher(facility.models)
    try:
        second.cycle()  # taking the lead: the recovery scan
        assert second.outputs.wait(timeout=30)
    finally:
        second.close()
    (intake,) = facility.models.intakes(ADA, job_id)
    assert intake.outcome is IntakeOutcome.REGISTERED
