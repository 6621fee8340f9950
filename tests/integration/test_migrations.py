"""Migrations run up and down on both databases and match the stores' tables exactly."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

import pnyx.db.outbox
import pnyx.governance.store
import pnyx.identity.store
import pnyx.inventory.store
import pnyx.transparency.store  # noqa: F401  (registers every table)
from pnyx.core.errors import Unavailable
from pnyx.db.engine import create_engine
from pnyx.db.metadata import metadata
from pnyx.db.migrate import current_revision, downgrade, ensure_current, head_revision, upgrade
from pnyx.server import create_app
from pnyx.settings import Settings
from pnyx.wiring import build_platform


def test_schema_matches_metadata(database_url: str) -> None:
    engine = create_engine(database_url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), metadata)
    engine.dispose()
    assert diff == []


def test_down_and_up_again(database_url: str) -> None:
    engine = create_engine(database_url)
    downgrade(engine, "base")
    assert current_revision(engine) is None
    with pytest.raises(Unavailable, match="pnyx db upgrade"):
        ensure_current(engine)
    upgrade(engine)
    assert current_revision(engine) == head_revision()
    engine.dispose()


def test_server_refuses_an_unmigrated_database(tmp_path: object) -> None:
    settings = Settings.from_env({"PNYX_DATA_DIR": str(tmp_path)})
    with pytest.raises(Unavailable, match=r"has no schema yet.*pnyx db upgrade"):
        create_app(build_platform(settings))
    assert sa.inspect(create_engine(settings.database_url)).get_table_names() == []
