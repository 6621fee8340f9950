"""Secrets at rest: a 0700 data directory, a 0600 SQLite database and signing key; a readable key refused."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pnyx.cli.main import app
from pnyx.core.errors import Unavailable
from pnyx.db.files import check_private, secure_storage, sqlite_file
from pnyx.db.migrate import upgrade
from pnyx.server import create_app
from pnyx.settings import Settings
from pnyx.transparency.signing import create_key_file, load_signer
from pnyx.wiring import build_platform


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def loose_umask() -> Iterator[None]:
    """The worst umask: whatever is private here is private by our doing, not the environment's."""
    previous = os.umask(0)
    yield
    os.umask(previous)


def test_the_data_directory_and_database_are_private(tmp_path: Path, loose_umask: None) -> None:
    settings = Settings.from_env({"PNYX_DATA_DIR": str(tmp_path / "data")})
    platform = build_platform(settings)
    try:
        upgrade(platform.engine)
        platform.identity.register_user(name="ada", roles=["researcher"])
        database = sqlite_file(settings.database_url)
        assert database is not None
        assert database.parent == settings.data_dir
        assert mode(settings.data_dir) == 0o700
        assert mode(database) == 0o600
        wal = database.with_name(database.name + "-wal")
        assert wal.exists()  # SQLite gives its companions the database file's mode
        assert mode(wal) == 0o600
    finally:
        platform.engine.dispose()


def test_existing_loose_files_of_ours_are_tightened(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    data.chmod(0o755)
    database = data / "pnyx.db"
    database.write_bytes(b"")
    database.chmod(0o644)
    secure_storage(data, f"sqlite:///{database}")
    assert (mode(data), mode(database)) == (0o700, 0o600)
    secure_storage(tmp_path / "pg", "postgresql+psycopg://u@127.0.0.1/db")  # no file to make
    assert mode(tmp_path / "pg") == 0o700
    assert sqlite_file("sqlite://") is None


def test_keygen_writes_a_private_key_whatever_the_umask(tmp_path: Path, loose_umask: None) -> None:
    key = tmp_path / "keys" / "log.key"
    key.parent.mkdir()
    stale = key.with_suffix(".tmp")
    stale.write_text("left over")
    stale.chmod(0o666)
    create_key_file(key, "test.pnyx.example/log")
    assert mode(key) == 0o600
    assert not stale.exists()
    load_signer(key)
    fresh = tmp_path / "new" / "log.key"
    create_key_file(fresh, "test.pnyx.example/log")
    assert (mode(fresh.parent), mode(fresh)) == (0o700, 0o600)


@pytest.mark.parametrize("loose", [0o640, 0o604, 0o660, 0o644])
def test_a_readable_key_is_refused_with_the_fix(tmp_path: Path, loose: int) -> None:
    key = tmp_path / "log.key"
    create_key_file(key, "test.pnyx.example/log")
    key.chmod(loose)
    with pytest.raises(Unavailable, match=f"chmod 600 {key}") as caught:
        load_signer(key)
    assert caught.value.code == "secret_exposed"
    with pytest.raises(Unavailable, match="chmod 600"):
        check_private(key, "the key")


def test_the_server_refuses_to_start_with_a_readable_key(tmp_path: Path) -> None:
    env = {"PNYX_DATA_DIR": str(tmp_path), "PNYX_LOG_ORIGIN": "test.pnyx.example/log"}
    settings = Settings.from_env(env)
    create_key_file(settings.log_key_file, settings.log_origin)
    settings.log_key_file.chmod(0o644)
    with pytest.raises(Unavailable, match=f"open to group or others.*chmod 600 {settings.log_key_file}"):
        create_app(build_platform(settings))
    settings.log_key_file.chmod(0o600)
    platform = build_platform(settings)
    assert platform.log.signer is not None
    platform.engine.dispose()


def test_pnyx_log_keygen_makes_the_data_directory_private(tmp_path: Path) -> None:
    data = tmp_path / "var"
    result = CliRunner().invoke(app, ["log", "keygen"], env={"PNYX_DATA_DIR": str(data)})
    assert result.exit_code == 0, result.output
    assert (mode(data), mode(data / "log-signing.key")) == (0o700, 0o600)
