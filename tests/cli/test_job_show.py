"""`pnyx job show` and `job list` print a record a person reads (UTC times, durations, statuses as
words, "-" for none), and with --json the API's record, the same keys and values (both backends)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pnyx.api.schemas.jobs import JobOut
from pnyx.cli.job_view import duration, when
from pnyx.cli.main import app
from pnyx.wiring import Platform
from tests.integration.test_job_safety import Facility

runner = CliRunner()
RAW = ("None", "JobStatus.", "PriorityClass.", "Decimal(", "datetime.", "+00:00")


@pytest.fixture
def env(database_url: str, tmp_path: Path) -> dict[str, str]:
    return {"PNYX_DATABASE_URL": database_url, "PNYX_DATA_DIR": str(tmp_path), "COLUMNS": "250"}


def _submitted(env: dict[str, str], platform: Platform) -> str:
    project = Facility(platform).project("alice", hours=100_000)
    made = runner.invoke(
        app,
        [
            "job",
            "submit",
            "-p",
            project,
            "--as",
            "alice",
            "--estimate",
            "5400",
            "--checkpoint",
            "600",
            "--",
            "true",
        ],
        env=env,
    )
    assert made.exit_code == 0, made.output
    found = re.search(r"submitted (job_\w+)", made.output)
    assert found is not None
    return found.group(1)


def _row(output: str, name: str) -> str:
    found = re.search(rf"^\s*{name} (.*)$", output, re.MULTILINE)
    assert found is not None, output
    return found.group(1).strip()


def test_show_prints_a_readable_record(env: dict[str, str], platform: Platform) -> None:
    job_id = _submitted(env, platform)
    assert runner.invoke(app, ["job", "cancel", job_id, "--as", "alice"], env=env).exit_code == 0
    shown = runner.invoke(app, ["job", "show", job_id, "--as", "alice"], env=env)
    assert shown.exit_code == 0, shown.output
    assert not [raw for raw in RAW if raw in shown.output], shown.output
    assert _row(shown.output, "status") == "cancelled"
    assert _row(shown.output, "estimate") == "1 h 30 min"
    assert _row(shown.output, "checkpoint") == "every 10 min"
    assert _row(shown.output, "started") == "-"  # cancelled before it ever started
    assert _row(shown.output, "ran") == "-"
    assert _row(shown.output, "exit code") == "-"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", _row(shown.output, "submitted"))
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", _row(shown.output, "ended"))
    assert _row(shown.output, "priority") in {"urgent", "entitled", "preemptible"}


def test_show_json_is_the_apis_record(env: dict[str, str], platform: Platform) -> None:
    job_id = _submitted(env, platform)
    shown = runner.invoke(app, ["job", "show", job_id, "--as", "alice", "--json"], env=env)
    assert shown.exit_code == 0, shown.output
    record = json.loads(shown.output)
    api = json.loads(
        JobOut.of(platform.jobs.get(platform.identity.principal_of("alice"), job_id)).model_dump_json()
    )
    assert {k: v for k, v in record.items() if k in api} == api  # the API's record, value for value
    assert (record["status"], record["started_at"], record["estimate_s"]) == ("held_for_safety", None, 5400)
    listed = runner.invoke(app, ["job", "list", "--as", "alice", "--json"], env=env)
    assert [j["id"] for j in json.loads(listed.output)] == [job_id]
    table = runner.invoke(app, ["job", "list", "--as", "alice"], env=env)
    assert "held_for_safety" in table.output
    assert "JobStatus" not in table.output


def test_times_and_durations_read_as_people_write_them() -> None:
    assert when(datetime(2026, 11, 25, 10, 30, tzinfo=UTC)) == "2026-11-25T10:30:00Z"
    cet = datetime(2026, 11, 25, 11, 30, tzinfo=UTC) + timedelta(hours=1)
    assert when(cet.astimezone()) == "2026-11-25T12:30:00Z"
    assert when(None) == "-"
    assert [duration(s) for s in (0, 45, 600, 5400, 90_061)] == [
        "0 s",
        "45 s",
        "10 min",
        "1 h 30 min",
        "1 d 1 h",
    ]
    assert duration(None) == "-"
