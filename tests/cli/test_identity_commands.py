"""`pnyx token create|redeem`, `pnyx user disable`, `pnyx proposal confirm` (both backends)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pnyx.cli.main import app
from pnyx.core.errors import Forbidden, Unauthenticated
from pnyx.settings import Settings
from pnyx.wiring import build_platform
from tests.unit.allocation.allocation_builders import form

runner = CliRunner()

CALL = [
    "--mode", "benchmark", "--budget", "30000",
    "--opens", "2020-01-01", "--closes", "2099-02-01", "--review-deadline", "2099-03-01",
    "--decision", "2099-03-15", "--starts", "2099-04-01", "--ends", "2099-05-01",
]  # fmt: skip


@pytest.fixture
def env(database_url: str, tmp_path: Path) -> dict[str, str]:
    return {
        "PNYX_DATABASE_URL": database_url,
        "PNYX_DATA_DIR": str(tmp_path),
        "COLUMNS": "200",
        "PNYX_LOG_KEY_FILE": str(tmp_path / "log.key"),
    }


def invoke(env: dict[str, str], *args: str, stdin: str | None = None) -> str:
    result = runner.invoke(app, list(args), env=env, input=stdin)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert result.exit_code == 0, result.output
    return result.output


def test_enrol_redeem_and_disable(env: dict[str, str]) -> None:
    invoke(env, "user", "add", "ada", "--role", "delegate", "--member-state", "DE")
    out = invoke(env, "token", "create", "ada", "--label", "welcome")
    assert "enrolment" in out
    enrolment = out.strip().splitlines()[-1]
    assert enrolment.startswith("pnyx_enrol_")
    out = invoke(env, "token", "redeem", "--label", "laptop", stdin=enrolment + "\n")
    secret = out.strip().splitlines()[-1]
    assert enrolment not in out  # read from the terminal, never echoed
    with pytest.raises(Unauthenticated, match="used"):
        invoke(env, "token", "redeem", stdin=enrolment + "\n")
    listed = invoke(env, "token", "list", "ada")
    assert re.search(r"enrolment\W+local-console\W+welcome", listed)
    assert re.search(r"personal\W+local-console\W+laptop", listed)  # issued by whoever enrolled ada
    platform = build_platform(Settings.from_env(env))
    try:
        assert platform.identity.authenticate(secret).name == "ada"
        assert "disabled; their tokens are revoked" in invoke(
            env, "user", "disable", "ada", "--reason", "left"
        )
        with pytest.raises(Unauthenticated):
            platform.identity.authenticate(secret)
    finally:
        platform.engine.dispose()
    assert invoke(env, "user", "list").count("disabled") == 2  # the column, and ada's row


def test_team_members_confirm(env: dict[str, str], tmp_path: Path) -> None:
    invoke(env, "user", "add", "ada", "--role", "researcher", "--member-state", "NL")
    invoke(env, "user", "add", "grace", "--role", "researcher")
    invoke(env, "user", "add", "bob", "--role", "researcher")
    call_id = re.search(r"call (call_\w+)", invoke(env, "call", "create", "Bench", *CALL)).group(1)  # type: ignore[union-attr]
    invoke(env, "call", "open", call_id)
    path = tmp_path / "proposal.json"
    team = [{"name": "Grace Hopper", "institution": "Inria", "user": "grace"}]
    path.write_text(json.dumps(form(team=team)))
    out = invoke(env, "proposal", "create", call_id, str(path), "--as", "ada")
    proposal_id = re.search(r"proposal (prop_\w+)", out).group(1)  # type: ignore[union-attr]
    with pytest.raises(Forbidden, match="not named"):
        invoke(env, "proposal", "confirm", proposal_id, "--as", "bob")
    assert "grace confirmed" in invoke(env, "proposal", "confirm", proposal_id, "--as", "grace")
