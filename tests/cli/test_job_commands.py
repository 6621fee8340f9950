"""`pnyx job` under safety levels (both backends): the project's level by default, below it refused,
held jobs shown as held, outputs above the reader's clearance refused naming the label."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pnyx.cli.main import app
from pnyx.core.errors import Forbidden, InvalidInput
from pnyx.jobs.model import Artifact
from pnyx.scheduler.model import JobDoesNotFit
from pnyx.wiring import Platform
from tests.integration.test_job_safety import Facility

runner = CliRunner()


@pytest.fixture
def env(database_url: str, tmp_path: Path) -> dict[str, str]:
    return {"PNYX_DATABASE_URL": database_url, "PNYX_DATA_DIR": str(tmp_path), "COLUMNS": "250"}


def test_jobs_of_a_held_l2_project_from_the_command_line(env: dict[str, str], platform: Platform) -> None:
    facility = Facility(platform)
    facility.world.user("aud", ["auditor"])
    project = facility.project("alice", hours=100_000)  # classified L2, awaiting an officer
    submit = ["job", "submit", "-p", project, "--as", "alice", "--engine", "local"]

    below = runner.invoke(app, [*submit, "--label", "1", "--", "true"], env=env)
    assert isinstance(below.exception, InvalidInput)
    assert below.exception.field == "label"

    made = runner.invoke(app, [*submit, "--", "true"], env=env)
    assert made.exit_code == 0, made.output
    assert f"held_for_safety, L2+project:{project}" in made.output
    found = re.search(r"submitted (job_\w+)", made.output)
    assert found is not None
    job_id = found.group(1)
    listed = runner.invoke(app, ["job", "list", "--as", "alice", "--status", "held_for_safety"], env=env)
    assert job_id in listed.output

    platform.jobs.record_artifacts(job_id, [Artifact(path="w.bin", sha256="c" * 64, size=1)])
    mine = runner.invoke(app, ["job", "artifacts", job_id, "--as", "alice"], env=env)
    assert "w.bin" in mine.output
    theirs = runner.invoke(app, ["job", "artifacts", job_id, "--as", "aud"], env=env)
    assert isinstance(theirs.exception, Forbidden)
    assert f"L2+project:{project}" in theirs.exception.message


def test_a_gang_too_large_for_one_site_is_told_the_flag_that_lets_it_cross(
    env: dict[str, str], platform: Platform
) -> None:
    """The generated 64-accelerator facility holds 8 at one site, 16 across sites."""
    project = Facility(platform).project("alice", hours=100_000)
    submit = ["job", "submit", "-p", project, "--as", "alice", "--engine", "local", "-n", "12"]
    refused = runner.invoke(app, [*submit, "--", "true"], env=env)
    assert isinstance(refused.exception, JobDoesNotFit)
    assert refused.exception.code == "job_too_large"
    assert refused.exception.message.endswith(
        "it fits if allowed to cross sites: submit it again with --allow-cross-site (see --help for its cost)"
    )
    crossing = runner.invoke(app, [*submit, "--allow-cross-site", "--", "true"], env=env)
    assert crossing.exit_code == 0, crossing.output
    job_id = re.search(r"submitted (job_\w+)", crossing.output)
    assert job_id is not None
    assert platform.jobs.get(platform.identity.principal_of("alice"), job_id.group(1)).allow_cross_site
    helped = runner.invoke(app, ["job", "submit", "--help"], env=env)
    assert "--allow-cross-site" in helped.output
    assert "slower links between sites" in helped.output
