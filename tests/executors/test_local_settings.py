"""The local sandbox's settings: a job root outside the data directory, the switch, the uid range."""

from __future__ import annotations

from pathlib import Path

import pytest

from pnyx.core.errors import InvalidInput
from pnyx.executors.local import LocalExecutor
from pnyx.settings import Settings
from pnyx.wiring import build_executors


def test_defaults_put_jobs_outside_the_data_dir_in_a_sandbox(tmp_path: Path) -> None:
    settings = Settings.from_env({"PNYX_DATA_DIR": str(tmp_path)})
    assert (settings.job_root, settings.sandbox) == (Path("/var/tmp/pnyx-jobs"), True)
    local = build_executors(settings)["local"]
    assert isinstance(local, LocalExecutor)
    assert local.layout.root == Path("/var/tmp/pnyx-jobs")
    assert (local.config.enabled, local.config.uid_first, local.config.uid_count) == (
        True,
        1_500_000_000,
        65_536,
    )


@pytest.mark.parametrize("inside", ["jobs", ".", ".."])
def test_a_job_root_overlapping_the_data_dir_is_refused(tmp_path: Path, inside: str) -> None:
    data = tmp_path / "data"
    with pytest.raises(InvalidInput, match="outside the data directory"):
        Settings.from_env({"PNYX_DATA_DIR": str(data), "PNYX_JOB_ROOT": str(data / inside)})


def test_the_switch_and_the_uid_range(tmp_path: Path) -> None:
    settings = Settings.from_env(
        {"PNYX_DATA_DIR": str(tmp_path), "PNYX_SANDBOX": "off", "PNYX_JOB_UIDS": "200000-200009"}
    )
    local = build_executors(settings)["local"]
    assert isinstance(local, LocalExecutor)
    assert (local.config.enabled, local.config.uid_first, local.config.uid_count) == (False, 200_000, 10)
    for bad in ("200000", "9-1", "0-5", "a-b"):
        with pytest.raises(InvalidInput, match="PNYX_JOB_UIDS"):
            Settings.from_env({"PNYX_DATA_DIR": str(tmp_path), "PNYX_JOB_UIDS": bad})
    with pytest.raises(InvalidInput, match="PNYX_SANDBOX"):
        Settings.from_env({"PNYX_DATA_DIR": str(tmp_path), "PNYX_SANDBOX": "maybe"})


def test_the_machine_share_settings_reach_the_executor(tmp_path: Path) -> None:
    env = {"PNYX_DATA_DIR": str(tmp_path), "PNYX_LOCAL_MAX_JOBS": "2", "PNYX_LOCAL_JOB_PROCESSES": "64",
           "PNYX_JOB_RETENTION_S": "3600", "PNYX_LOCAL_OUTPUT_FILES": "50"}  # fmt: skip
    local = build_executors(Settings.from_env(env))["local"]
    assert isinstance(local, LocalExecutor)
    assert (local.config.max_jobs, local.config.processes, local.config.job_memory) == (2, 64, None)
    assert (local.retention_s, local.outputs.entries, local.outputs.file_bytes) == (3600, 50, 4 << 30)
    defaults = build_executors(Settings.from_env({"PNYX_DATA_DIR": str(tmp_path)}))["local"]
    assert isinstance(defaults, LocalExecutor)
    assert (defaults.config.max_jobs, defaults.retention_s) == (None, 7 * 86_400)  # one per CPU; a week
