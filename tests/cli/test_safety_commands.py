"""`pnyx safety ...` against a real database (both backends): thin commands over the safety service."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pnyx.cli.main import app
from pnyx.core.clock import FrozenClock
from pnyx.core.errors import Forbidden, InvalidInput, NotFound
from pnyx.settings import Settings
from pnyx.wiring import build_platform
from tests.integration.test_safety_classification import Facility, public_key

runner = CliRunner()


@pytest.fixture
def env(database_url: str, tmp_path: Path) -> dict[str, str]:
    return {"PNYX_DATABASE_URL": database_url, "PNYX_DATA_DIR": str(tmp_path), "COLUMNS": "200"}


@pytest.fixture
def project(env: dict[str, str]) -> Iterator[str]:
    """A general-purpose project (L2), and officers sofia and omar."""
    built = build_platform(Settings.from_env(env), clock=FrozenClock(datetime(2026, 11, 25, 9, tzinfo=UTC)))
    try:
        yield Facility(built).project(general_purpose=True)
    finally:
        built.engine.dispose()


def invoke(env: dict[str, str], *args: str) -> str:
    result = runner.invoke(app, ["safety", *args], env=env)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert result.exit_code == 0, result.output
    return result.output


def test_an_officer_classifies_confirms_raises_and_lowers(env: dict[str, str], project: str) -> None:
    out = invoke(env, "classify", project)
    assert f"{project}: L2 proposed" in out
    assert "general-purpose" in out
    assert project in invoke(env, "queue")
    assert "holds_jobs True" in " ".join(invoke(env, "classification", "show", project).split())
    assert "L2 confirmed" in invoke(env, "confirm", project, "--as", "sofia")
    assert "L3 confirmed" in invoke(env, "raise", project, "L3", "--as", "omar")
    assert "pending L2 (proposed by sofia)" in invoke(env, "lower", project, "L2", "--as", "sofia")
    with pytest.raises(Forbidden, match="second, different officer"):
        invoke(env, "agree-lower", project, "--as", "sofia")
    assert "L3 confirmed" in invoke(env, "refuse-lower", project, "--as", "omar")
    assert f"L3 1: {project}" in invoke(env, "levels")
    assert "metered compute: 0 FLOP" in invoke(env, "meter", project)


def test_bad_input_is_a_domain_error(env: dict[str, str], project: str) -> None:
    invoke(env, "classify", project)
    with pytest.raises(InvalidInput, match="L1, L2, L3 or L4"):
        invoke(env, "raise", project, "L9", "--as", "sofia")
    with pytest.raises(InvalidInput, match="lowering goes below"):
        invoke(env, "lower", project, "L3", "--as", "sofia")
    with pytest.raises(Forbidden, match="safety-officer"):
        invoke(env, "confirm", project, "--as", "alice")
    with pytest.raises(NotFound):
        invoke(env, "classify", "prj_none")


def test_keys(env: dict[str, str], project: str, tmp_path: Path) -> None:
    key = public_key()
    path = tmp_path / "sofia.pub"
    path.write_text(key + "\n")
    out = invoke(env, "keys", "register", "--file", str(path), "--as", "sofia")
    key_id = out.split()[2]
    assert f"{key_id} sofia {key}" in invoke(env, "keys", "list", "--user", "sofia")
    with pytest.raises(Forbidden):
        invoke(env, "keys", "register", public_key(), "--as", "alice")
    assert "revoked" in invoke(env, "keys", "revoke", key_id, "--as", "sofia")
    result = runner.invoke(app, ["safety", "keys", "register", "--as", "sofia"], env=env)
    assert result.exit_code == 2
