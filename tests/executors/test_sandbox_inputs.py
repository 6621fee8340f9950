"""Inputs and the runtime as sandbox data: where each is bound, what the supervisor stages, the job's
PATH and PNYX_INPUTS; and PNYX_LOCAL_RUNTIME, refused where it would show jobs a secret."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import pytest

import pnyx
from pnyx.core.errors import InvalidInput
from pnyx.executors.local_runtime import runtime_setting, visible
from pnyx.executors.sandbox import (
    INPUTS_DIR,
    HostFacts,
    Runtime,
    SandboxConfig,
    extra_binds,
    job_env,
    launch_record,
)
from pnyx.jobs.model import JobInput
from pnyx.safety.model import Label, SafetyLevel
from pnyx.settings import Settings
from tests.executors.conftest import GRANT, spec

ROOT = HostFacts(bwrap="/usr/bin/bwrap", is_root=True, system_dirs=("/usr",))
USER = dataclasses.replace(ROOT, is_root=False)
RUNTIME = Runtime(binds=("/srv/venv", "/srv/src"), path=("/srv/venv/bin",))
DATA = JobInput(
    version="abc123", path="/srv/data/registry/datasets/abc123", label=Label(level=SafetyLevel.L1)
)
JOB = dataclasses.replace(spec("k1", "python", "-m", "pnyx.training.run"), inputs=(DATA,))


def _ro_binds(argv: object) -> list[tuple[str, str]]:
    assert isinstance(argv, list)
    return [(argv[i + 1], argv[i + 2]) for i, a in enumerate(argv) if a == "--ro-bind"]


def test_inputs_and_the_runtime_are_bound_read_only_where_the_job_sees_them() -> None:
    config = SandboxConfig(runtime=RUNTIME)
    assert extra_binds(JOB, config) == (
        ("/srv/venv", "/srv/venv"),
        ("/srv/src", "/srv/src"),
        (DATA.path, f"{INPUTS_DIR}/abc123"),
    )
    as_user = launch_record(JOB, GRANT, config, USER, work_dir="/w", locks="/r")
    assert _ro_binds(as_user["argv"])[-3:] == list(extra_binds(JOB, config))  # the server's uid reaches them
    assert as_user["stage"] == []


def test_job_uids_bind_what_the_supervisor_staged() -> None:
    record = launch_record(JOB, GRANT, SandboxConfig(runtime=RUNTIME), ROOT, work_dir="/w", locks="/r")
    assert _ro_binds(record["argv"])[-3:] == [
        ("/r/stage/0", "/srv/venv"),
        ("/r/stage/1", "/srv/src"),
        ("/r/stage/2", "/inputs/abc123"),
    ]
    assert record["stage_root"] == "/r/stage"
    assert record["links"] == [["/inputs", "inputs"]]  # inputs/<version> from /job, as on every engine
    assert record["stage"] == [  # inputs idmapped (the server's files), the runtime plainly bound
        ["/srv/venv", "/r/stage/0", "/srv/venv", False],
        ["/srv/src", "/r/stage/1", "/srv/src", False],
        [DATA.path, "/r/stage/2", "/inputs/abc123", True],
    ]
    argv = record["argv"]
    assert isinstance(argv, list)
    assert argv.index("--ro-bind", argv.index("/job")) < argv.index("--remount-ro")  # before / is read-only


def test_the_runtime_leads_the_path_and_inputs_are_named() -> None:
    env = job_env(JOB, GRANT, home="/job", host=ROOT, runtime=RUNTIME)
    assert env["PATH"] == "/srv/venv/bin:/usr/local/bin:/usr/bin:/bin"
    assert env["PNYX_INPUTS"] == INPUTS_DIR
    off = launch_record(JOB, GRANT, SandboxConfig(enabled=False), ROOT, work_dir="/w", locks="/r")
    env_off = off["env"]
    assert isinstance(env_off, dict)
    assert env_off["PNYX_INPUTS"] == "/w/inputs"
    assert (off["links"], off["stage"]) == ([[DATA.path, "inputs/abc123"]], [])


def test_the_server_runtime_is_its_environment_its_python_and_pnyx() -> None:
    runtime = runtime_setting("server", hidden={})
    package = Path(pnyx.__file__).resolve().parent.parent
    assert runtime.binds[0] == str(Path(sys.prefix).resolve())
    assert str(package) in runtime.binds or any(package.is_relative_to(b) for b in runtime.binds)
    assert runtime.path == (f"{Path(sys.prefix).resolve()}/bin",)
    assert runtime_setting("off", hidden={}) == Runtime() == runtime_setting("", hidden={})


def test_a_list_names_an_environment_first(tmp_path: Path) -> None:
    env, extra = tmp_path / "env", tmp_path / "extra"
    (env / "bin").mkdir(parents=True)
    extra.mkdir()
    runtime = runtime_setting(f"{env}:{extra}", hidden={})
    assert runtime == Runtime(
        binds=(str(env.resolve()), str(extra.resolve())), path=(f"{env.resolve()}/bin",)
    )


def test_what_the_system_shows_or_another_bind_holds_is_not_bound_again() -> None:
    assert visible([Path("/opt/env"), Path("/usr/lib/python3"), Path("/opt/env/lib"), Path("/opt/env")]) == [
        Path("/opt/env")
    ]


@pytest.mark.parametrize("value", ["relative/dir", "/no/such/dir", "/etc/hostname"])
def test_a_runtime_that_is_not_absolute_directories_is_refused(value: str) -> None:
    with pytest.raises(InvalidInput, match="absolute path to a directory") as refused:
        runtime_setting(value, hidden={})
    assert refused.value.field == "PNYX_LOCAL_RUNTIME"


def test_a_runtime_around_or_inside_a_secret_is_refused(tmp_path: Path) -> None:
    env = tmp_path / "env"
    (env / "data").mkdir(parents=True)
    for hidden in (
        {"the data directory": env / "data"},
        {"the log key": env / "k.key"},
        {"the job root": tmp_path},
    ):
        with pytest.raises(InvalidInput, match="would let every local job see") as refused:
            runtime_setting(str(env), hidden=hidden)
        assert refused.value.field == "PNYX_LOCAL_RUNTIME"


def test_settings_refuse_a_data_directory_inside_the_server_runtime(tmp_path: Path) -> None:
    inside = Path(pnyx.__file__).resolve().parent.parent / "var-inside-the-source"
    with pytest.raises(InvalidInput, match="the data directory"):
        Settings.from_env({"PNYX_LOCAL_RUNTIME": "server", "PNYX_DATA_DIR": str(inside)})
    assert not inside.exists()
    fine = Settings.from_env({"PNYX_LOCAL_RUNTIME": "server", "PNYX_DATA_DIR": str(tmp_path / "data")})
    assert fine.local.runtime.binds  # and the sandbox the executor gets carries it:
    assert fine.local.sandbox(enabled=True, uid_first=1, uid_count=1).runtime == fine.local.runtime
    database = {"PNYX_DATABASE_URL": f"sqlite:///{inside / 'x.db'}", "PNYX_DATA_DIR": str(tmp_path / "d")}
    with pytest.raises(InvalidInput, match="the database"):
        Settings.from_env({**database, "PNYX_LOCAL_RUNTIME": "server"})
