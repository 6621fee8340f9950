"""Jobs on a shared filesystem (Slurm, Ray) as data: the batch script and the entrypoint make each
job's directory, link its inputs and give a gang its rendezvous; outputs are collected only where
the control plane sees the working directory, with the local walk's bounds. No engine needed: the
scripts run under /bin/sh here."""

from __future__ import annotations

import dataclasses
import subprocess
from pathlib import Path

import pytest

from pnyx.core.errors import InvalidInput
from pnyx.executors import job_dirs
from pnyx.executors.local_outputs import OutputCaps
from pnyx.executors.ray import RayConfig, RayExecutor, build_submission
from pnyx.executors.ray_settings import RaySettings
from pnyx.executors.slurm import SlurmConfig, SlurmExecutor, build_request
from pnyx.executors.slurm_settings import SlurmSettings
from pnyx.jobs.model import EngineRef, EngineRejected, JobInput, JobSpec
from pnyx.safety.model import Label, SafetyLevel
from tests.engines.conftest import grant_for, make_spec

L1 = Label(level=SafetyLevel.L1)


def with_input(spec: JobSpec, path: Path, version: str = "v1") -> JobSpec:
    return dataclasses.replace(spec, inputs=(JobInput(version=version, path=str(path), label=L1),))


def dataset(tmp_path: Path) -> Path:
    version = tmp_path / "datasets" / "v1"
    version.mkdir(parents=True)
    (version / "manifest.json").write_text('{"v": 1}')
    return version


def slurm_config(work: Path, work_mount: str | None = None) -> SlurmConfig:
    return SlurmConfig(
        user="u", token="t", working_directory=str(work), log_directory=str(work), work_mount=work_mount
    )


def run_script(script: str, cwd: Path, env: dict[str, str]) -> str:
    done = subprocess.run(
        ["bash", "-c", script], check=False, cwd=cwd, env=env, capture_output=True, text=True, timeout=20
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_a_slurm_job_starts_in_its_own_directory_with_its_inputs_and_a_rendezvous(tmp_path: Path) -> None:
    probe = (
        "bash",
        "-c",
        'echo "$PWD $PNYX_INPUTS $PNYX_OUTPUT_DIR $PET_RDZV_ENDPOINT"; cat inputs/v1/manifest.json',
    )
    spec = with_input(make_spec(probe, nodes=2), dataset(tmp_path))
    script = build_request(spec, grant_for(spec), slurm_config(tmp_path)).script
    script = script.replace("exec srun --nodes=2 --ntasks-per-node=1 -- ", "exec ")  # one task here

    out = run_script(script, tmp_path, {"SLURM_JOB_ID": "41", "PATH": "/usr/bin:/bin"})

    job = tmp_path / "pnyx-41"
    first, manifest = out.splitlines()
    assert first.split()[:3] == [str(job), f"{job}/inputs", "outputs"]
    assert first.split()[3].endswith(":20041")  # the first node, the job's own port
    assert manifest == '{"v": 1}'
    assert (job / "outputs").is_dir()
    assert job.stat().st_mode & 0o777 == 0o700
    assert "PET_NNODES=2" in script
    single = build_request(
        make_spec(("true",)), grant_for(make_spec(("true",))), slurm_config(tmp_path)
    ).script
    assert "PET_" not in single  # one node: torchrun's own defaults


def test_nodes_may_see_the_datasets_elsewhere() -> None:
    job_input = JobInput(version="abc", path="/srv/pnyx/registry/datasets/abc", label=L1)
    assert job_dirs.node_path(job_input, None) == "/srv/pnyx/registry/datasets/abc"
    assert job_dirs.node_path(job_input, "/shared/datasets") == "/shared/datasets/abc"


def test_slurm_collects_outputs_only_through_its_work_mount(tmp_path: Path) -> None:
    outputs = tmp_path / "pnyx-7" / "outputs"
    (outputs / "sub").mkdir(parents=True)
    (outputs / "sub" / "a.txt").write_text("hello")
    (outputs / "link").symlink_to("/etc/hostname")
    (tmp_path / "7.out").write_text("job log\n")
    ref = EngineRef(engine="slurm", engine_job_id="7")

    assert SlurmExecutor(slurm_config(tmp_path)).artifacts(ref) == []  # no work_mount: not readable here
    found = SlurmExecutor(slurm_config(tmp_path, work_mount=str(tmp_path))).artifacts(ref)

    assert [(a.path, a.size) for a in found] == [("sub/a.txt", 5)]
    assert "pnyx: outputs/link" in (tmp_path / "7.out").read_text()  # skipped, and the log says so
    reader = SlurmExecutor(slurm_config(tmp_path, work_mount=str(tmp_path)))
    with reader.open_output(ref, "sub/a.txt", 5) as f:
        assert f.read() == b"hello"
    with pytest.raises(InvalidInput, match="symlinks are refused"):
        reader.open_output(ref, "link", 5)
    with pytest.raises(InvalidInput, match=r"slurm\.work_mount"):
        SlurmExecutor(slurm_config(tmp_path)).open_output(ref, "sub/a.txt", 5)


def test_a_job_directory_that_is_a_link_is_not_followed(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere" / "outputs"
    elsewhere.mkdir(parents=True)
    (elsewhere / "secret").write_text("x")
    (tmp_path / "pnyx-8").symlink_to(elsewhere.parent)  # planted by another job of the same user
    found = job_dirs.collect(str(tmp_path), "8", OutputCaps())
    assert found.artifacts == []


def test_a_ray_job_starts_in_its_own_directory_with_its_inputs(tmp_path: Path) -> None:
    probe = ("bash", "-c", 'echo "$PWD $PNYX_INPUTS"; cat "$PNYX_INPUTS/v1/manifest.json"')
    spec = with_input(make_spec(probe), dataset(tmp_path))
    body = build_submission(spec, grant_for(spec), RayConfig(working_directory=str(tmp_path / "ray")))

    out = run_script(body["entrypoint"], tmp_path, {"PATH": "/usr/bin:/bin"})

    job = tmp_path / "ray" / f"pnyx-{spec.idempotency_key}"
    assert out.splitlines() == [f"{job} {job}/inputs", '{"v": 1}']
    ray = RayExecutor(RayConfig(working_directory=str(tmp_path / "ray"), work_mount=str(tmp_path / "ray")))
    (job / "outputs" / "w.bin").write_bytes(b"12")
    assert [a.path for a in ray.artifacts(EngineRef(engine="ray", engine_job_id=spec.idempotency_key))] == [
        "w.bin"
    ]


def test_ray_refuses_inputs_without_a_working_directory_or_with_an_odd_one(tmp_path: Path) -> None:
    spec = with_input(make_spec(("true",)), dataset(tmp_path))
    with pytest.raises(EngineRejected, match="no working_directory") as refused:
        build_submission(spec, grant_for(spec), RayConfig())
    assert refused.value.field == "datasets"
    assert build_submission(make_spec(("true",)), grant_for(spec), RayConfig())["entrypoint"] == "true"
    with pytest.raises(EngineRejected, match="not a plain path"):
        build_submission(spec, grant_for(spec), RayConfig(working_directory='/tmp/a"; rm -rf /'))


def test_the_engines_file_names_the_mounts() -> None:
    slurm = SlurmSettings.from_section(
        {"url": "http://s", "working_directory": "/w", "log_directory": "/l", "work_mount": "/m/w",
         "dataset_mount": "/m/d"}
    )  # fmt: skip
    assert (slurm.config.work_mount, slurm.config.dataset_mount) == ("/m/w", "/m/d")
    ray = RaySettings.from_section(
        {"url": "http://r", "working_directory": "/w", "work_mount": "/m/w", "dataset_mount": "/m/d"}
    )
    assert (ray.config.working_directory, ray.config.work_mount, ray.config.dataset_mount) == (
        "/w",
        "/m/w",
        "/m/d",
    )
