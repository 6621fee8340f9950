"""The reference recipe (``pnyx.training.run``) through the real engines, reading a dataset version
from the shared working directory and leaving its outputs there for the control plane to hash:

- Slurm: two nodes of the local cluster, one rank each: the batch script's ``srun`` starts
  ``torchrun`` on both, which meet at the first node by the script's c10d rendezvous settings;
- Ray: a Ray job whose entrypoint runs the server venv's Python by absolute path (Ray's own venv
  has no torch).

Both engines run their jobs as root on this machine, so the directories are simply shared.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from pnyx.executors.ray import RayConfig, RayExecutor
from pnyx.executors.slurm import SlurmConfig, SlurmExecutor
from pnyx.jobs.executor import OutputReader
from pnyx.jobs.model import EngineRef, EngineState, JobInput, JobSpec
from pnyx.safety.model import Label, SafetyLevel
from tests.engines.conftest import SLURM_ROOT, final, grant_for, make_spec, status_of, wait_for
from tests.training.conftest import fixture_shards, write_dataset

pytestmark = [pytest.mark.engines, pytest.mark.slow]
OUTPUTS = {"pnyx-model.json", "model.safetensors", "data-order.jsonl", "metrics.jsonl"}


def training_job(launcher: tuple[str, ...], data: Path, *, nodes: int, per_node: int) -> JobSpec:
    """The recipe on a version written under ``data`` (named by its id), read as ``inputs/<id>``."""
    version = write_dataset(data / "incoming", fixture_shards())["version"]
    path = (data / "incoming").rename(data / version)
    run = ("-m", "pnyx.training.run", "--data", f"inputs/{version}", "--out", "outputs", "--steps", "3")
    spec = make_spec((*launcher, *run), nodes=nodes, per_node=per_node, time_limit_s=300)
    return replace(
        spec, inputs=(JobInput(version=version, path=str(path), label=Label(level=SafetyLevel.L1)),)
    )


def model_card(reader: OutputReader, ref: EngineRef, size: int) -> dict[str, object]:
    with reader.open_output(ref, "pnyx-model.json", size) as f:
        card: dict[str, object] = json.loads(f.read())
    return card


@pytest.fixture
def shared_slurm(slurm_config: SlurmConfig) -> Iterator[SlurmExecutor]:
    """The working directory is the log directory of the test cluster, seen here through its root."""
    if SLURM_ROOT:
        pytest.skip("the chroot cluster (PNYX_TEST_SLURM_ROOT) cannot see the server's Python environment")
    work = slurm_config.working_directory
    executor = SlurmExecutor(replace(slurm_config, work_mount=work, dataset_mount=f"{work}/datasets"))
    yield executor
    executor.close()


@pytest.mark.xdist_group("slurm")
def test_slurm_trains_across_two_nodes_and_collects_the_outputs(shared_slurm: SlurmExecutor) -> None:
    work = Path(shared_slurm.config.working_directory)
    launcher = (sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "1")
    spec = training_job(launcher, work / "datasets", nodes=2, per_node=1)
    ref = shared_slurm.submit(spec, grant_for(spec))
    try:
        status = wait_for(status_of(shared_slurm, ref), final, timeout_s=180)
    finally:
        shared_slurm.cancel(ref)  # a no-op once it ended; never a job of ours left behind
    assert status.state is EngineState.SUCCEEDED, shared_slurm.logs(ref, 400)
    [job] = [j for j in shared_slurm.controller_jobs() if j.job_id == int(ref.engine_job_id)]
    assert job.node_count == 2
    outputs = {a.path: a for a in shared_slurm.artifacts(ref)}
    assert set(outputs) >= OUTPUTS
    card = model_card(shared_slurm, ref, outputs["pnyx-model.json"].size)
    assert (card["datasets"], card["world_size"], card["steps"]) == ([spec.inputs[0].version], 2, 3)


@pytest.mark.xdist_group("ray")
def test_ray_runs_the_recipe_with_the_server_python(ray_url: str, tmp_path: Path) -> None:
    ray = RayExecutor(RayConfig(base_url=ray_url, working_directory=str(tmp_path), work_mount=str(tmp_path)))
    launcher = (sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2")
    spec = training_job(launcher, tmp_path / "datasets", nodes=1, per_node=2)
    try:
        ref = ray.submit(spec, grant_for(spec))
        status = wait_for(status_of(ray, ref), final, timeout_s=180)
        assert status.state is EngineState.SUCCEEDED, ray.logs(ref, 400)
        outputs = {a.path: a for a in ray.artifacts(ref)}
        assert set(outputs) >= OUTPUTS
        card = model_card(ray, ref, outputs["pnyx-model.json"].size)
        assert (card["datasets"], card["world_size"]) == ([spec.inputs[0].version], 2)
    finally:
        ray.cancel(EngineRef(engine="ray", engine_job_id=spec.idempotency_key))  # a no-op once it ended
        ray.close()
