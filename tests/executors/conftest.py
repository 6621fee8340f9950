"""Local executor tests run real processes in real bubblewrap sandboxes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from pnyx.jobs.model import Grant, JobSpec
from pnyx.safety.model import SafetyLevel
from tests.executors.job_root import temporary_job_root

GRANT = Grant(node_ids=("local-n0",), counts=(4,))


@pytest.fixture
def job_root() -> Iterator[Path]:
    with temporary_job_root() as root:
        yield root


def spec(key: str, *command: str, limit: int = 60, level: SafetyLevel = SafetyLevel.L1) -> JobSpec:
    return JobSpec(
        job_id=f"job-{key}",
        idempotency_key=key,
        name="t",
        project="p",
        user="u",
        accelerator_type="H100-SXM",
        accelerators=4,
        nodes=1,
        accelerators_per_node=4,
        safety_level=level,
        time_limit_s=limit,
        command=command,
    )


def py(code: str) -> tuple[str, ...]:
    """A Python job (the sandbox's python3, not the server's interpreter)."""
    return ("python3", "-c", code)
