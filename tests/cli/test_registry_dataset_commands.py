"""`pnyx registry dataset ...` against a real database (both backends): thin commands over the
dataset service, acting as the local console (the operator) unless --as names a user."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pnyx.cli.main import app
from pnyx.core.errors import Forbidden, InvalidInput, NotFound
from pnyx.settings import Settings
from pnyx.wiring import build_platform

runner = CliRunner()


@pytest.fixture
def env(database_url: str, tmp_path: Path) -> dict[str, str]:
    return {"PNYX_DATABASE_URL": database_url, "PNYX_DATA_DIR": str(tmp_path / "data"), "COLUMNS": "200"}


def invoke(env: dict[str, str], *args: str) -> str:
    result = runner.invoke(app, ["registry", "dataset", *args], env=env)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert result.exit_code == 0, result.output
    return result.output


def test_import_list_show_metadata_takedown_and_verify(env: dict[str, str], tmp_path: Path) -> None:
    assert "wrote 11 sample files" in invoke(env, "demo-samples", str(tmp_path / "in"), "--per-source", "2")
    out = invoke(env, "import", str(tmp_path / "in"), "--name", "demo", "--shard-samples", "3")
    version = out.split("version ")[1].split()[0]
    assert "imported demo" in out
    assert "8 in 3 shards" in out
    assert "2 samples left out" in out
    assert version[:16] in invoke(env, "list")
    shown = invoke(env, "show", version)
    assert "source news: LicenseRef-news-syndication" in shown
    assert "reserved: samples left out" in shown
    assert json.loads(invoke(env, "manifest", version))["version"] == version
    document = json.loads(invoke(env, "croissant", version, "--base-url", "https://pnyx.example"))
    assert document["url"] == f"https://pnyx.example/api/v1/registry/datasets/versions/{version}"
    assert invoke(env, "card", version).startswith("---\npretty_name:")
    assert "verified: 3 shards" in invoke(env, "verify", version)
    done = invoke(env, "takedown", "demo", "--reason", "rights holder", "--origin", "https://images.example/")
    assert "2 samples removed from demo" in done
    assert f"withdrawn: {version}" in done
    assert "withdrawn" in invoke(env, "list", "--all")
    again = invoke(env, "import", str(tmp_path / "in"), "--name", "demo", "--shard-samples", "3")
    assert "already registered" in again  # the taken-down images stay out: the takedown's version
    assert "4 samples left out" in again


def test_errors_name_what_is_wrong(env: dict[str, str], tmp_path: Path) -> None:
    invoke(env, "demo-samples", str(tmp_path / "in"), "--per-source", "1")
    (tmp_path / "in" / "images" / "broken.pgm").write_bytes(b"P5 nonsense")
    with pytest.raises(InvalidInput, match=r"images/broken\.pgm"):
        invoke(env, "import", str(tmp_path / "in"), "--name", "demo")
    with pytest.raises(InvalidInput, match="not empty"):
        invoke(env, "demo-samples", str(tmp_path / "in"))
    with pytest.raises(NotFound):
        invoke(env, "show", "0" * 64)
    built = build_platform(Settings.from_env(env))
    try:
        built.identity.register_user(name="rita", roles=["researcher"])
    finally:
        built.engine.dispose()
    (tmp_path / "in" / "images" / "broken.pgm").unlink()
    with pytest.raises(Forbidden, match="operator"):
        invoke(env, "import", str(tmp_path / "in"), "--name", "demo", "--as", "rita")
