"""A local job's dataset inputs and runtime, in real bubblewrap sandboxes under job uids: each input
read-only at /inputs/<version> (its files the server's, 0600, inside the 0700 data directory) and
nothing else of the data directory; the server's Python environment when PNYX_LOCAL_RUNTIME says so,
and still no database or key."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from pnyx.executors.local import LocalExecutor, wait_until_final
from pnyx.executors.local_runtime import runtime_setting
from pnyx.executors.sandbox import INPUTS_DIR, STAGE_DIR, SandboxConfig
from pnyx.jobs.model import EngineRef, EngineState, JobInput, JobSpec
from pnyx.safety.model import Label, SafetyLevel
from tests.executors.conftest import GRANT, py, spec

L1 = Label(level=SafetyLevel.L1)


@dataclass(frozen=True)
class DataDir:
    """A server's data directory as the registry leaves it: 0700 throughout, files 0600."""

    root: Path
    versions: Path

    def version(self, name: str, files: dict[str, str]) -> JobInput:
        path = self.versions / name
        path.mkdir(mode=0o700)
        for file, text in files.items():
            (path / file).write_text(text)
            (path / file).chmod(0o600)
        return JobInput(version=name, path=str(path), label=L1)


@pytest.fixture
def data_dir(tmp_path: Path) -> DataDir:
    root = tmp_path / "data"
    versions = root / "registry" / "datasets"
    versions.mkdir(parents=True, mode=0o700)
    for d in (root, root / "registry", versions):
        d.chmod(0o700)
    for secret in ("pnyx.db", "log-signing.key"):
        (root / secret).write_text("secret")
        (root / secret).chmod(0o600)
    return DataDir(root=root, versions=versions)


def reading(key: str, code: str, *inputs: JobInput) -> JobSpec:
    return dataclasses.replace(spec(key, *py(code)), inputs=inputs)


def run(ex: LocalExecutor, job: JobSpec, timeout_s: float = 30.0) -> tuple[EngineState, str]:
    ref: EngineRef = ex.submit(job, GRANT)
    status = wait_until_final(ex, ref, timeout_s=timeout_s)
    return status.state, ex.logs(ref)


PROBE = """
import json, os
seen = {"inputs": sorted(os.listdir("/inputs")), "env": os.environ["PNYX_INPUTS"],
        "manifest": open("/inputs/v1/manifest.json").read(), "up": sorted(os.listdir("/inputs/v1/..")),
        "relative": open("inputs/v1/manifest.json").read()}  # from /job, as on Slurm and Ray
for path in ("{data}/pnyx.db", "{data}/log-signing.key", "{versions}/v2/manifest.json", "/inputs/v2"):
    seen[path] = os.path.exists(path)
try:
    open("/inputs/v1/planted", "w")
except OSError as exc:
    seen["write"] = exc.strerror
print(json.dumps(seen))
"""


def test_a_job_reads_its_input_and_nothing_else_of_the_data_directory(
    job_root: Path, data_dir: DataDir
) -> None:
    v1 = data_dir.version("v1", {"manifest.json": '{"format": "pnyx.dataset/1"}', "shard-000000.tar": "x"})
    data_dir.version("v2", {"manifest.json": "{}"})  # another version: never the job's
    code = PROBE.replace("{data}", str(data_dir.root)).replace("{versions}", str(data_dir.versions))

    state, log = run(LocalExecutor(job_root), reading("in1", code, v1))

    assert state is EngineState.SUCCEEDED, log
    seen = json.loads(log.splitlines()[-1])
    assert seen["inputs"] == ["v1"]
    assert seen["up"] == ["v1"]
    assert seen["env"] == INPUTS_DIR
    assert seen["manifest"] == seen["relative"] == '{"format": "pnyx.dataset/1"}'  # 0600, the server's
    assert seen["write"] == "Read-only file system"
    hidden = [k for k in seen if k.startswith("/")]
    assert hidden
    assert not any(seen[k] for k in hidden)
    assert not (Path(v1.path) / "planted").exists()


def test_staging_leaves_nothing_on_the_machine(job_root: Path, data_dir: DataDir) -> None:
    v1 = data_dir.version("v1", {"manifest.json": "{}"})
    state, log = run(
        LocalExecutor(job_root), reading("in2", "print(open('/inputs/v1/manifest.json').read())", v1)
    )
    assert state is EngineState.SUCCEEDED, log
    assert list((job_root / STAGE_DIR).iterdir()) == []  # the stage was the job's own mount
    assert str(job_root / STAGE_DIR) not in Path("/proc/self/mounts").read_text()  # none propagated here
    assert (
        Path(v1.path).stat().st_mode & 0o777,
        (Path(v1.path) / "manifest.json").stat().st_mode & 0o777,
    ) == (
        0o700,
        0o600,
    )  # nothing loosened on the machine


def test_an_input_gone_from_disk_fails_the_job_naming_it_not_its_path(
    job_root: Path, data_dir: DataDir
) -> None:
    gone = JobInput(version="v9", path=str(data_dir.versions / "v9"), label=L1)
    state, log = run(LocalExecutor(job_root), reading("in3", "print('ran')", gone))
    assert state is EngineState.FAILED
    assert "/inputs/v9 is missing on this machine" in log
    assert str(data_dir.root) not in log
    assert "ran" not in log


def test_unsandboxed_jobs_find_their_inputs_linked_in_the_work_directory(
    job_root: Path, tmp_path: Path
) -> None:
    version = tmp_path / "v1"
    version.mkdir()
    (version / "manifest.json").write_text("{}")
    code = "import os; i = os.environ['PNYX_INPUTS']; print(i, open(i + '/v1/manifest.json').read())"
    job = reading("in4", code, JobInput(version="v1", path=str(version), label=L1))
    state, log = run(LocalExecutor(job_root, SandboxConfig(enabled=False)), job)
    assert state is EngineState.SUCCEEDED, log
    assert log == f"{job_root}/work/in4/inputs {{}}"


def test_the_server_runtime_imports_torch_and_pnyx_and_still_hides_the_secrets(
    job_root: Path, data_dir: DataDir
) -> None:
    hidden = {"the data directory": data_dir.root, "the job root": job_root}
    runtime = runtime_setting("server", hidden=hidden)
    code = (
        "import os, sys, torch, pnyx.registry.order; "
        f"print(torch.__version__, sys.prefix, os.path.exists('{data_dir.root}/pnyx.db'), "
        f"os.path.exists('{data_dir.root}/log-signing.key'), os.path.exists('{job_root}/state'))"
    )
    job = spec("rt1", "python", "-c", code)  # the runtime's python: first on the job's PATH

    state, log = run(LocalExecutor(job_root, SandboxConfig(runtime=runtime)), job, timeout_s=60)

    assert state is EngineState.SUCCEEDED, log
    version, prefix, *seen = log.split()
    assert version.startswith("2.")
    assert prefix == runtime.binds[0]  # the server's environment
    assert seen == ["False", "False", "False"]


def test_without_a_runtime_the_job_has_no_torch(job_root: Path) -> None:
    state, log = run(LocalExecutor(job_root), spec("rt2", *py("import torch")))
    assert state is EngineState.FAILED
    assert "No module named 'torch'" in log
