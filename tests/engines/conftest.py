"""Fixtures for the real engines (``scripts/engines/up.sh`` starts them).

Locally an engine that is not up skips its tests with the reason; in CI (CI=true) it fails them,
because CI brings the engines up before the suite.

Environment:
  PNYX_TEST_SLURM_URL        slurmrestd (default http://127.0.0.1:6820)
  PNYX_TEST_SLURM_TOKEN      a JWT; default: ``$PNYX_TEST_SCONTROL token username=root lifespan=3600``
  PNYX_TEST_SCONTROL         how to run scontrol (default ``scontrol``; for the 24.11 chroot:
                             ``chroot /var/tmp/slurm-trixie scontrol``)
  PNYX_TEST_SLURM_API        force one API version (e.g. v0.0.40) instead of the newest offered
  PNYX_TEST_SLURM_ROOT       where the cluster's / lies on this machine (24.11 chroot:
                             /var/tmp/slurm-trixie), to read job logs
  PNYX_TEST_RAY_URL          Ray dashboard / Jobs API (default http://127.0.0.1:8265)
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import httpx
import pytest

from pnyx.executors.slurm import SlurmConfig, SlurmExecutor
from pnyx.jobs.model import FINAL_ENGINE_STATES, EngineRef, EngineState, EngineStatus, Grant, JobSpec
from pnyx.safety.model import SafetyLevel

IN_CI = os.environ.get("CI") == "true"
SLURM_URL = os.environ.get("PNYX_TEST_SLURM_URL", "http://127.0.0.1:6820")
RAY_URL = os.environ.get("PNYX_TEST_RAY_URL", "http://127.0.0.1:8265")
SCONTROL = shlex.split(os.environ.get("PNYX_TEST_SCONTROL", "scontrol"))
SLURM_ROOT = os.environ.get("PNYX_TEST_SLURM_ROOT", "").rstrip("/")  # the cluster's / on this machine
# the test cluster of scripts/engines/slurm_up.sh: accounts "public" and "secure"
TEST_ACCOUNTS = {"prj-open": "public", "prj-secure": "secure"}


def engine_missing(what: str, problem: str) -> None:
    """Skip locally, fail in CI: the CI script starts every engine before the suite."""
    message = f"{what} is not up ({problem}); start it with scripts/engines/up.sh"
    if IN_CI:
        pytest.fail(f"{message} - required in CI", pytrace=False)
    pytest.skip(message)


def _slurm_token() -> str:
    token = os.environ.get("PNYX_TEST_SLURM_TOKEN")
    if token:
        return token
    try:
        out = subprocess.run(
            [*SCONTROL, "token", "username=root", "lifespan=3600"],
            capture_output=True,
            text=True,
            timeout=20,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        engine_missing("Slurm", f"scontrol token failed: {exc}")
    return out.strip().removeprefix("SLURM_JWT=")


@pytest.fixture(scope="session")
def slurm_token() -> str:
    try:
        httpx.get(f"{SLURM_URL}/openapi/v3", timeout=5)
    except httpx.HTTPError as exc:
        engine_missing("slurmrestd", f"{SLURM_URL}: {exc}")
    return _slurm_token()


@pytest.fixture(scope="session")
def slurm_logs() -> Iterator[Path]:
    """A log directory as the cluster sees it; under SLURM_ROOT on this machine (the 24.11 chroot)."""
    path = Path(f"/tmp/pnyx-slurm-logs-{uuid.uuid4().hex[:8]}")
    local = Path(SLURM_ROOT + str(path))
    local.mkdir(parents=True)
    local.chmod(0o1777)  # jobs write here as the submitting user
    yield path
    shutil.rmtree(local, ignore_errors=True)


@pytest.fixture
def slurm_config(slurm_token: str, slurm_logs: Path) -> SlurmConfig:
    return SlurmConfig(
        base_url=SLURM_URL,
        user="root",
        token=slurm_token,
        accounts=TEST_ACCOUNTS,
        working_directory=str(slurm_logs),
        log_directory=str(slurm_logs),
        log_mount=SLURM_ROOT + str(slurm_logs),
        api_version=os.environ.get("PNYX_TEST_SLURM_API") or None,
    )


@pytest.fixture
def slurm(slurm_config: SlurmConfig) -> Iterator[SlurmExecutor]:
    executor = SlurmExecutor(slurm_config)
    yield executor
    executor.close()


@pytest.fixture
def ray_url() -> str:
    try:
        httpx.get(f"{RAY_URL}/api/version", timeout=5).raise_for_status()
    except httpx.HTTPError as exc:
        engine_missing("Ray", f"{RAY_URL}: {exc}")
    return RAY_URL


def make_spec(
    command: tuple[str, ...],
    *,
    project: str = "prj-open",
    level: SafetyLevel = SafetyLevel.L1,
    nodes: int = 1,
    per_node: int = 1,
    time_limit_s: int = 120,
) -> JobSpec:
    job_id = f"job-{uuid.uuid4().hex[:10]}"
    return JobSpec(
        job_id=job_id,
        idempotency_key=f"{job_id}-a1",
        name="engine test",
        project=project,
        user="alice",
        accelerator_type="H100",
        accelerators=nodes * per_node,
        nodes=nodes,
        accelerators_per_node=per_node,
        safety_level=level,
        time_limit_s=time_limit_s,
        command=command,
        env={"PNYX_TEST": "1"},
    )


def grant_for(spec: JobSpec) -> Grant:
    return Grant(
        node_ids=tuple(f"n{i + 1}" for i in range(spec.nodes)),
        counts=(spec.accelerators_per_node,) * spec.nodes,
    )


T = TypeVar("T")


def wait_for(
    read: Callable[[], T],
    done: Callable[[T], bool],
    *,
    timeout_s: float = 90,
    every_s: float = 0.25,
) -> T:
    """Poll until ``done`` (engines and their accounting lag: reconciliation polls)."""
    deadline = time.monotonic() + timeout_s
    status = read()
    while not done(status):
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting after {timeout_s} s; last status {status}")
        time.sleep(every_s)
        status = read()
    return status


def final(status: EngineStatus) -> bool:
    return status.state in FINAL_ENGINE_STATES


def running_or_final(status: EngineStatus) -> bool:
    return status.state is EngineState.RUNNING or final(status)


def status_of(executor: object, ref: EngineRef) -> Callable[[], EngineStatus]:
    def read() -> EngineStatus:
        return executor.status([ref])[0]  # type: ignore[attr-defined,no-any-return]

    return read
