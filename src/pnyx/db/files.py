"""Secrets at rest: the data directory is 0700; the SQLite database and the log's signing key 0600.

SQLite creates a database file with the process's umask (0644 as a rule), and its WAL and
shared-memory files with the database file's mode, so the file is created here first, 0600,
before an engine opens it. Only what this process owns is tightened; nothing is ever loosened.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import sqlalchemy as sa

from pnyx.core.errors import Unavailable

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600


def secure_storage(data_dir: Path, database_url: str) -> None:
    """Make the data directory 0700 and an SQLite database file (with its WAL files) 0600."""
    private_dir(data_dir)
    database = sqlite_file(database_url)
    if database is not None:
        database.parent.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
        private_file(database)
        for companion in (
            database.with_name(database.name + "-wal"),
            database.with_name(database.name + "-shm"),
        ):
            if companion.exists():
                tighten(companion, PRIVATE_FILE)


def private_dir(path: Path) -> Path:
    path.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
    tighten(path, PRIVATE_DIR)
    return path


def private_file(path: Path) -> Path:
    """Create ``path`` empty if it is missing, 0600; an existing file keeps its content."""
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT, PRIVATE_FILE))
    tighten(path, PRIVATE_FILE)
    return path


def sqlite_file(database_url: str) -> Path | None:
    """The file of an SQLite URL; None for PostgreSQL and in-memory databases."""
    url = sa.engine.make_url(database_url)
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    return Path(url.database)


def tighten(path: Path, mode: int) -> None:
    """Drop any permission beyond ``mode`` from a path this process owns."""
    found = path.stat()
    if found.st_uid == os.getuid() and stat.S_IMODE(found.st_mode) & ~mode:
        path.chmod(stat.S_IMODE(found.st_mode) & mode)


def check_private(path: Path, what: str) -> None:
    """Refuse a secret that anyone but its owner may read or change, saying how to fix it."""
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise Unavailable(
            f"{what} {path} is open to group or others (mode {mode:04o}); "
            f"refusing to use it. Fix it with: chmod 600 {path}",
            code="secret_exposed",
        )
