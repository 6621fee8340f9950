"""Alembic, driven from code: ``pnyx db upgrade`` and the server's start-up check."""

from __future__ import annotations

import importlib
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from pnyx.core.errors import Unavailable

MIGRATIONS = Path(__file__).parent / "migrations"
# URL scheme -> (module, what to install: psycopg[binary], spelled without brackets a terminal eats)
DRIVERS = {"postgresql+psycopg": ("psycopg", "psycopg psycopg-binary")}


def require_driver(url: str) -> None:
    """A PostgreSQL URL needs psycopg (a default dependency): name the missing package, not a traceback."""
    module, package = DRIVERS.get(url.split(":", 1)[0], (None, None))
    if module is None:
        return
    try:
        importlib.import_module(module)
    except ImportError:
        raise Unavailable(
            f"PNYX_DATABASE_URL is a PostgreSQL URL but its driver is not installed: "
            f"pip install {package} (or reinstall pnyx, which depends on it)",
            field="PNYX_DATABASE_URL",
            code="database_driver_missing",
        ) from None


def require_database(url: str) -> None:
    """Only ``pnyx db upgrade`` creates a database: a SQLite file that is not there is refused, by its
    path, before anything would create it (an empty one, say, under the wrong working directory)."""
    if not url.startswith("sqlite"):
        return
    database = sa.engine.make_url(url).database
    if database and database != ":memory:" and not Path(database).exists():
        raise Unavailable(
            f"no database at {Path(database).resolve()}: run `pnyx db upgrade` (or set PNYX_DATA_DIR)",
            code="database_missing",
        )


def alembic_config(engine: sa.Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: sa.Engine, revision: str = "head") -> None:
    command.upgrade(alembic_config(engine), revision)


def downgrade(engine: sa.Engine, revision: str) -> None:
    command.downgrade(alembic_config(engine), revision)


def head_revision() -> str:
    head = ScriptDirectory(str(MIGRATIONS)).get_current_head()
    assert head is not None
    return head


def current_revision(engine: sa.Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def ensure_current(engine: sa.Engine) -> None:
    """Refuse to run against a database whose schema is not at the code's head revision."""
    current = current_revision(engine)
    head = head_revision()
    if current != head:
        state = "has no schema yet" if current is None else f"is at revision {current}"
        raise Unavailable(
            f"the database {engine.url.render_as_string(hide_password=True)} {state}; "
            f"this code needs revision {head}. Run `pnyx db upgrade` first.",
            code="database_not_migrated",
        )
