"""The `pnyx` commands against a real database (both backends)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pnyx.cli.main import app
from pnyx.core.errors import Conflict, InvalidInput
from pnyx.db.migrate import head_revision
from pnyx.demo.service import USERS

runner = CliRunner()


@pytest.fixture
def env(database_url: str, tmp_path: Path) -> dict[str, str]:
    return {
        "PNYX_DATABASE_URL": database_url,
        "PNYX_DATA_DIR": str(tmp_path),
        "COLUMNS": "200",
        "PNYX_LOG_KEY_FILE": str(tmp_path / "log.key"),
    }


def invoke(env: dict[str, str], *args: str) -> str:
    result = runner.invoke(app, list(args), env=env)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert result.exit_code == 0, result.output
    return result.output


def test_operator_workflow(env: dict[str, str]) -> None:
    assert f"database: {head_revision()}" in invoke(env, "db", "current")
    assert "verifier key" in invoke(env, "log", "keygen", "--origin", "cli.test/log")
    assert "already" in invoke(env, "log", "keygen", "--if-missing")
    assert "with roles operator" in invoke(env, "user", "add", "olga", "--role", "operator")
    out = invoke(env, "token", "create", "olga", "--label", "laptop", "--days", "7")
    secret = out.strip().splitlines()[-1]
    assert secret.startswith("pnyx_")
    token_id = out.split()[1]
    assert "laptop" in invoke(env, "token", "list", "olga")
    assert "revoked" in invoke(env, "token", "revoke", token_id)
    assert "admitted Germany" in invoke(
        env,
        "member-state",
        "add",
        "DE",
        "Germany",
        "--contribution",
        "410,000,000.50",
        "--population",
        "84600000",
    )
    assert "410,000,000.50 EUR" in invoke(env, "member-state", "list")
    out = invoke(env, "inventory", "generate", "--accelerators", "4096", "--seed", "2")
    assert "4,096 accelerators" in out
    assert "by safety certification" in invoke(env, "inventory", "show")
    assert "appended 5 entries" in invoke(env, "log", "append")
    assert invoke(env, "log", "show").startswith("cli.test/log\n5\n")


def test_demo_seeds_once(env: dict[str, str]) -> None:
    invoke(env, "log", "keygen")
    out = invoke(env, "demo", "--accelerators", "2048")
    assert "seeded the demo facility" in out
    assert out.count("pnyx_") == len(USERS) + 1  # and a delegate's
    assert "L2 2:" in invoke(env, "safety", "levels")  # both projects train a general-purpose model
    queue = invoke(env, "safety", "queue")  # the officer confirmed one; the other waits for them
    assert (queue.count("proposed"), queue.count("prj_")) == (1, 1)
    assert "held_for_safety" in invoke(env, "job", "list", "--as", "sam", "--status", "held_for_safety")
    assert "demo-multimodal" in invoke(env, "registry", "dataset", "list")  # a public dataset to train on
    assert "(PI ada; confirmed: its jobs run)" in out  # what a first training job needs: project, dataset
    assert "public dataset demo-multimodal, version " in out
    assert "nothing seeded" in invoke(env, "demo", "--accelerators", "2048")


def test_bad_input_is_a_domain_error(env: dict[str, str]) -> None:
    with pytest.raises(InvalidInput, match="unknown role"):
        invoke(env, "user", "add", "olga", "--role", "king")
    with pytest.raises(InvalidInput, match="multiple of 4"):
        invoke(env, "inventory", "generate", "--accelerators", "10")
    with pytest.raises(InvalidInput, match="not an amount"):
        invoke(env, "member-state", "add", "DE", "Germany", "--contribution", "lots", "--population", "1")
    invoke(env, "user", "add", "olga", "--role", "operator")
    with pytest.raises(Conflict):
        invoke(env, "user", "add", "olga", "--role", "operator")


def test_errors_are_one_line_and_an_exit_code(tmp_path: Path) -> None:
    """The installed `pnyx` turns errors into a message and an exit code, never a traceback."""
    pnyx = Path(sys.executable).with_name("pnyx")
    env = {
        **os.environ,
        "PNYX_DATABASE_URL": f"sqlite:///{tmp_path / 'empty.db'}",
        "PNYX_DATA_DIR": str(tmp_path),
    }

    def run(*args: str) -> tuple[int, str]:
        done = subprocess.run(
            [str(pnyx), *args], check=False, env=env, capture_output=True, text=True, timeout=60
        )
        return done.returncode, " ".join(done.stderr.split())

    code, stderr = run("serve")
    assert code == 6
    assert "pnyx db upgrade" in stderr
    assert "Traceback" not in stderr
    assert run("inventory", "generate", "-n", "7")[0] == 6  # the unmigrated database is found first
    assert run("db", "upgrade")[0] == 0
    code, stderr = run("inventory", "generate", "-n", "7")
    assert code == 2
    assert "multiple of 4" in stderr
