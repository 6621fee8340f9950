"""`pnyx job submit --dataset VERSION` (repeated) through the real wiring and dataset registry (both
backends): the job reads the versions, `job show` names them; an unknown one is refused naming
``datasets``."""

from __future__ import annotations

import re
from pathlib import Path

from typer.testing import CliRunner

from pnyx.cli.main import app
from pnyx.core.errors import NotFound
from pnyx.registry.samples import write_samples
from pnyx.wiring import Platform
from tests.integration.test_job_safety import Facility

runner = CliRunner()


def test_a_job_submitted_with_datasets_reads_them(
    database_url: str, tmp_path: Path, platform: Platform
) -> None:
    env = {"PNYX_DATABASE_URL": database_url, "PNYX_DATA_DIR": str(tmp_path), "COLUMNS": "250"}
    facility = Facility(platform)
    operator = facility.world.user("olga", ["operator"])
    project = facility.project("alice", hours=100_000)
    imported = []
    for n in (1, 2):
        write_samples(tmp_path / f"import{n}", per_source=2, seed=n)
        done = platform.datasets.import_directory(operator, tmp_path / f"import{n}", name=f"demo{n}")
        imported.append(done.version.version)
    submit = ["job", "submit", "-p", project, "--as", "alice", "--engine", "local"]

    made = runner.invoke(
        app, [*submit, "--dataset", imported[0], "--dataset", imported[1], "--", "true"], env=env
    )

    assert made.exit_code == 0, made.output
    found = re.search(r"submitted (job_\w+)", made.output)
    assert found is not None
    shown = runner.invoke(app, ["job", "show", found.group(1), "--as", "alice"], env=env)
    assert f"datasets {imported[0]}, {imported[1]}" in " ".join(shown.output.split())
    assert str(tmp_path) not in shown.output  # versions, never where they lie
    unknown = runner.invoke(app, [*submit, "--dataset", "0" * 64, "--", "true"], env=env)
    assert isinstance(unknown.exception, NotFound)
    assert unknown.exception.field == "datasets"
