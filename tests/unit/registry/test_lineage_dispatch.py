"""Real sandboxed local jobs write training outputs; the dispatcher records them and the registry
takes them in (or refuses, in the cycle's report); a new leader registers what a crash left between
recording and registering. While a job runs, its checkpoints are registered as it writes them, and
a hostile job's fake ones neither slow the cycle nor keep another job's from being registered. Both
databases."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from pnyx.adapters import RegistryInputs
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
from tests.unit.registry.lineage_outputs import (
    ARG_CHUNK,
    claimed_datasets,
    import_dataset,
    job_command,
    outputs,
    run_for,
)

OPEN_LLM = Label(level=SafetyLevel.L1, categories=frozenset({"project:open-llm"}))
TEAM = FakeMembers(teams={"open-llm": {"ada"}}, labels={"open-llm": OPEN_LLM})


@dataclass
class Facility:
    platform: Platform
    jobs: JobService
    executor: LocalExecutor
    models: ModelService
    tmp_path: Path

    def dispatcher(self, intake: ModelIntake | None, checkpoint_every_s: float = 30.0) -> Dispatcher:
        return Dispatcher(
            jobs=self.jobs,
            topology=self.platform.topology.topology,
            executors={"local": self.executor},
            shares=lambda _at: {"DE": Decimal(1)},
            clock=SystemClock(),
            policy=policy_named("full"),
            leadership=leadership_for(self.platform.engine, self.tmp_path),
            intake=intake,
            checkpoint_every_s=checkpoint_every_s,
        )

    def submit(self, files: dict[str, bytes], command: tuple[str, ...] | None = None) -> str:
        """A job given the dataset its outputs' manifest claims (the intake refuses any other)."""
        submission = Submission(
            name="train", project="open-llm", accelerators=2, estimate_s=60,
            command=command or job_command(JOB_PYTHON, files), datasets=tuple(claimed_datasets(files)),
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
            default_engine="local", datasets=RegistryInputs(lambda: platform.datasets),
        )  # fmt: skip
        models = ModelService(
            uow, blobs=BlobStore(platform.settings.data_dir / "registry"), datasets=StoredDatasets(uow),
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


def test_a_job_not_given_the_dataset_its_manifest_claims_registers_nothing(
    facility: Facility, tmp_path: Path
) -> None:
    files = outputs(run_for(import_dataset(facility.platform, tmp_path / "import")))
    submission = Submission(
        name="train", project="open-llm", accelerators=2, estimate_s=60,
        command=job_command(JOB_PYTHON, files),
    )  # fmt: skip
    job_id = facility.jobs.submit(ADA, submission).id  # no inputs: the record is computed, not read
    dispatcher = facility.dispatcher(facility.models)
    try:
        errors = _until_recorded(dispatcher, facility, job_id)
    finally:
        dispatcher.close()
    (refused,) = facility.models.intakes(ADA, job_id)
    assert (refused.outcome, refused.code) == (IntakeOutcome.REFUSED, "dataset_not_an_input")
    assert any("is not among the job's inputs (it was given: none)" in e for e in errors)


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


# --- checkpoints registered while the job runs ---------------------------------------------------

PHASES = (
    "import base64, json, os, pathlib, sys, time\n"
    "out = pathlib.Path(os.environ['PNYX_OUTPUT_DIR'])\n"
    "for phase in json.loads(''.join(sys.argv[1:])):\n"
    "    deadline = time.monotonic() + 60\n"
    "    while phase['wait'] and not (out / phase['wait']).exists():\n"
    "        if time.monotonic() > deadline:\n"
    "            sys.exit(3)\n"
    "        time.sleep(0.05)\n"
    "    exec(phase['code'])\n"
    "    for path, data in phase['files'].items():\n"
    "        (out / path).parent.mkdir(parents=True, exist_ok=True)\n"
    "        (out / path).write_bytes(base64.b64decode(data))\n"
    "    for src, dst in phase['rename']:\n"
    "        os.replace(out / src, out / dst)\n"
)
GO = "go"  # the test lets a waiting job go on by creating this file in its outputs


def _phase(
    files: dict[str, bytes], *, wait: str = "", code: str = "", checkpoint: str = ""
) -> dict[str, Any]:
    """Write ``files`` once ``wait`` exists (after running ``code``); a checkpoint's files go under
    ``<checkpoint>.partial`` first and are renamed, as the recipe does."""
    partial = (
        {p.replace(checkpoint, checkpoint + ".partial", 1): d for p, d in files.items()}
        if checkpoint
        else files
    )
    encoded = {p: base64.b64encode(d).decode() for p, d in partial.items()}
    rename = [[checkpoint + ".partial", checkpoint]] if checkpoint else []
    return {"wait": wait, "code": code, "files": encoded, "rename": rename}


def _phased(phases: list[dict[str, Any]]) -> tuple[str, ...]:
    payload = json.dumps(phases)
    return (
        JOB_PYTHON,
        "-c",
        PHASES,
        *[payload[i : i + ARG_CHUNK] for i in range(0, len(payload), ARG_CHUNK)],
    )


def _training(files: dict[str, bytes], code: str = "") -> tuple[str, ...]:
    """Checkpoint 2; then, once let go, checkpoint 4; then the rest of a run's outputs."""
    two, four = "checkpoints/step-000002", "checkpoints/step-000004"
    first = {p: d for p, d in files.items() if p.startswith(two)}
    second = {p: d for p, d in files.items() if p.startswith(four)}
    rest = {p: d for p, d in files.items() if p not in first and p not in second}
    return _phased([
        _phase(first, checkpoint=two, code=code), _phase(second, wait=GO, checkpoint=four), _phase(rest),
    ])  # fmt: skip


def _cycle_until(
    dispatcher: Dispatcher, done: Callable[[], bool], seconds: list[float], errors: list[str]
) -> None:
    """Cycle until ``done()``; each cycle's time goes to ``seconds``, its errors to ``errors``."""
    deadline = time.monotonic() + 60
    while not done():
        assert time.monotonic() < deadline, errors
        report = dispatcher.cycle()
        errors += report.errors
        seconds.append(report.seconds)
        time.sleep(0.05)


def _go(facility: Facility, job_id: str) -> None:
    (facility.executor.layout.work(f"{job_id}-a0") / "outputs" / GO).write_bytes(b"")


def test_a_running_jobs_checkpoints_are_registered_as_it_writes_them(
    facility: Facility, tmp_path: Path
) -> None:
    files = outputs(run_for(import_dataset(facility.platform, tmp_path / "import")))
    job_id = facility.submit(files, _training(files))
    dispatcher = facility.dispatcher(facility.models, checkpoint_every_s=0.1)
    try:
        _cycle_until(dispatcher, lambda: bool(facility.models.job_checkpoints(ADA, job_id)), [], [])
        assert facility.jobs.get(ADA, job_id).status is JobStatus.RUNNING  # it waits for GO meanwhile
        assert [c.step for c in facility.models.job_checkpoints(ADA, job_id)] == [2]
        _go(facility, job_id)
        errors = _until_recorded(dispatcher, facility, job_id)
    finally:
        dispatcher.close()
    (intake,) = facility.models.intakes(ADA, job_id)
    assert intake.outcome is IntakeOutcome.REGISTERED, errors
    assert intake.version is not None
    lineage = facility.models.lineage(ADA, intake.version)
    assert [c.step for c in lineage.checkpoints] == [2, 4]
    assert lineage.checkpoints[0].recorded_at < lineage.model.created_at  # registered while it ran


HOSTILE = (
    "ck = out / 'checkpoints'\n"
    "ck.mkdir()\n"
    "for s in range(10, 3010):\n"
    "    (ck / f'step-{s:06d}').mkdir()\n"  # never completed
    "for s in range(5000, 5040):\n"
    "    (ck / f'step-{s:06d}').mkdir()\n"
    "    (ck / f'step-{s:06d}' / 'pnyx-checkpoint.json').write_text('{}')\n"  # complete, but junk
    "os.symlink('/etc', ck / 'step-000001')\n"
    "(ck / 'step-000003').mkdir()\n"
    "os.symlink('/etc/passwd', ck / 'step-000003' / 'pnyx-checkpoint.json')\n"
    "(ck / 'step-000005').mkdir()\n"
    "(ck / 'step-000005' / 'pnyx-checkpoint.json').write_text('{}')\n"
    "with open(ck / 'step-000005' / 'huge.distcp', 'wb') as f:\n"
    "    f.truncate(100 << 30)\n"  # 100 GiB that take no disk
)


def test_a_hostile_jobs_fake_checkpoints_neither_slow_the_cycle_nor_stop_anothers(
    facility: Facility, tmp_path: Path
) -> None:
    files = outputs(run_for(import_dataset(facility.platform, tmp_path / "import")))
    honest = facility.submit(files, _training(files))
    hostile = facility.submit({}, _phased([_phase({}, code=HOSTILE), _phase({}, wait=GO)]))
    dispatcher = facility.dispatcher(facility.models, checkpoint_every_s=0.1)
    seconds: list[float] = []
    errors: list[str] = []

    def refusals() -> list[str]:
        return [e for e in errors if f"job {hostile}: checkpoint step" in e]

    try:
        _cycle_until(dispatcher, lambda: bool(facility.models.job_checkpoints(ADA, honest)), seconds, errors)
        _cycle_until(dispatcher, lambda: len(refusals()) >= 10, seconds, errors)
        for job_id in (honest, hostile):
            _go(facility, job_id)
        errors += _until_recorded(dispatcher, facility, honest) + _until_recorded(
            dispatcher, facility, hostile
        )
    finally:
        dispatcher.close()
    assert max(seconds) < 1.0, max(seconds)  # hashing happens off the cycle, bounded per look
    assert [c.step for c in facility.models.job_checkpoints(ADA, honest)] == [2, 4]
    assert facility.models.job_checkpoints(ADA, hostile) == []
    assert len(refusals()) == len(set(refusals()))  # each refused step reported once
    assert f"job {hostile}: checkpoint step 5 not registered: checkpoint lacks" in "\n".join(errors)
