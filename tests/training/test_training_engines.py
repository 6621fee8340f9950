"""The reference recipe run as a local platform job reading a dataset version: submitted with the
version, placed by the dispatcher, run by ``torchrun`` (2 CPU ranks, gloo over the sandbox's own
loopback) in the bubblewrap sandbox under a job uid with the server's Python environment
(PNYX_LOCAL_RUNTIME=server), the version bound read-only from a 0700 data directory; its outputs
recorded by hash under the join of the job's and the dataset's labels. On Slurm and Ray:
``tests/engines/test_engine_training.py``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from decimal import Decimal
from pathlib import Path

import pytest

from pnyx.core.clock import SystemClock
from pnyx.core.ids import UserId
from pnyx.db.unit_of_work import UnitOfWork
from pnyx.dispatch.leadership import leadership_for
from pnyx.dispatch.loop import Dispatcher
from pnyx.executors.local import LocalExecutor
from pnyx.executors.local_runtime import runtime_setting
from pnyx.executors.sandbox import SandboxConfig
from pnyx.identity.model import Principal, Role
from pnyx.jobs.executor import OutputReader
from pnyx.jobs.inputs import ResolvedDataset
from pnyx.jobs.model import EngineRef, JobStatus
from pnyx.jobs.service import JobService, ProjectInfo, Submission
from pnyx.jobs.topology import fit_check
from pnyx.safety.model import Label, SafetyLevel
from pnyx.scheduler.policy import policy_named
from pnyx.wiring import Platform
from tests.executors.job_root import temporary_job_root
from tests.training.conftest import fixture_shards, write_dataset

ADA = Principal(user_id=UserId("usr_ada"), name="ada", roles=frozenset({Role.RESEARCHER}))
LABEL = Label(level=SafetyLevel.L1, categories=frozenset({"code"}))  # the dataset's, and its readers' project
STEPS = 4
OUTPUTS = {"pnyx-model.json", "model.safetensors", "data-order.jsonl", "metrics.jsonl"}


@dataclass(frozen=True)
class Version:
    id: str
    path: Path


def registered_version(data_dir: Path) -> Version:
    """A version as the registry keeps it: in a 0700 data directory, 0700 and 0600, the server's."""
    staging = data_dir / "registry" / "datasets" / "incoming"
    version = write_dataset(staging, fixture_shards())["version"]
    path = staging.rename(staging.with_name(version))
    for d in (data_dir, data_dir / "registry", path.parent, path):
        d.chmod(0o700)
    for f in path.iterdir():
        f.chmod(0o600)
    return Version(id=version, path=path)


@dataclass
class OneVersion:
    """The registry as the jobs side asks it: this version, for anyone."""

    version: Version

    def resolve(self, principal: Principal, version: str, job: Label) -> ResolvedDataset | None:
        return ResolvedDataset(path=self.version.path, label=LABEL) if version == self.version.id else None


class OpenProject:
    def project(self, project_id: str) -> ProjectInfo | None:
        return ProjectInfo(
            id=project_id, member_state="DE", members=frozenset(), over_budget=False, label=LABEL
        )


def recipe(*launcher: str, version: str) -> tuple[str, ...]:
    """The recipe as a job runs it on any engine: its input and outputs relative to its directory."""
    run = (
        "-m",
        "pnyx.training.run",
        "--data",
        f"inputs/{version}",
        "--out",
        "outputs",
        "--steps",
        str(STEPS),
    )
    return (*launcher, *run)


def model_card(reader: OutputReader, ref: EngineRef, size: int) -> dict[str, object]:
    with reader.open_output(ref, "pnyx-model.json", size) as f:
        card: dict[str, object] = json.loads(f.read())
    return card


# --- local ----------------------------------------------------------------------------------------


@dataclass
class Local:
    jobs: JobService
    dispatcher: Dispatcher
    executor: LocalExecutor
    version: Version


@pytest.fixture
def local(platform: Platform, tmp_path: Path) -> Iterator[Local]:
    platform.inventory.generate(64, seed=1)
    version = registered_version(tmp_path / "data")
    with temporary_job_root() as root:
        runtime = runtime_setting(
            "server", hidden={"the data directory": tmp_path / "data", "the job root": root}
        )
        executor = LocalExecutor(root, SandboxConfig(runtime=runtime))
        jobs = JobService(
            UnitOfWork(engine=platform.engine, clock=SystemClock()),
            projects=OpenProject(),
            fits=fit_check(platform.topology),
            executors={"local": executor},
            default_engine="local",
            datasets=OneVersion(version),
        )
        dispatcher = Dispatcher(
            jobs=jobs,
            topology=platform.topology.topology,
            executors={"local": executor},
            shares=lambda _at: {"DE": Decimal(1)},
            clock=SystemClock(),
            policy=policy_named("full"),
            leadership=leadership_for(platform.engine, tmp_path),
        )
        yield Local(jobs=jobs, dispatcher=dispatcher, executor=executor, version=version)
        dispatcher.close()
        executor.close()


@pytest.mark.slow
def test_a_local_job_trains_on_its_dataset_with_two_ranks(local: Local) -> None:
    command = recipe("torchrun", "--nproc-per-node", "2", version=local.version.id)
    submission = Submission(name="train", project="open", accelerators=8, estimate_s=300, command=command)
    job = local.jobs.submit(ADA, replace(submission, datasets=(local.version.id,)))
    started = time.monotonic()

    while (found := local.jobs.get(ADA, job.id)).status not in {JobStatus.COMPLETED, JobStatus.FAILED}:
        assert time.monotonic() - started < 120, found
        local.dispatcher.cycle()
        time.sleep(0.2)
    ref = EngineRef(engine="local", engine_job_id=found.engine_job_id or "")

    assert found.status is JobStatus.COMPLETED, local.executor.logs(ref)
    assert time.monotonic() - started < 60  # seconds, not minutes
    outputs = {a.path: a for a in local.jobs.artifacts(ADA, job.id)}
    assert set(outputs) >= OUTPUTS
    assert any(p.startswith("checkpoints/step-000004/") for p in outputs)
    assert {a.label for a in outputs.values()} == {
        Label(level=SafetyLevel.L1, categories=frozenset({"code", "project:open"}))
    }
    card = model_card(local.executor, ref, outputs["pnyx-model.json"].size)
    assert (card["datasets"], card["world_size"], card["steps"]) == ([local.version.id], 2, STEPS)
    assert "done: 4 steps" in local.executor.logs(ref)
