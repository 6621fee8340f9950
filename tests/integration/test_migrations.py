"""Migrations run up and down on both databases and match the stores' tables exactly."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

import pnyx.db.outbox
import pnyx.governance.store
import pnyx.identity.store
import pnyx.inventory.store
import pnyx.transparency.store  # noqa: F401  (registers every table)
from pnyx.accounting.store import usage_records
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


def test_pools_are_respelled_as_governance_names_them_and_back(database_url: str) -> None:
    """0009: allocation's old pool spellings become governance's; other values are left alone."""
    engine = create_engine(database_url)
    downgrade(engine, "0008")
    when = datetime(2026, 11, 25, tzinfo=UTC)
    row = {"project_id": "p", "accelerator_type": "H100-SXM", "accelerators": 8, "started_at": when}
    row |= {"ended_at": when, "accelerator_seconds": 1, "h100_equivalent_seconds": 1, "energy_wh": 1}
    with engine.begin() as conn:
        for i, pool in enumerate(["open-calls", "member-state", "directors-reserve", "sme", "member"]):
            conn.execute(usage_records.insert().values(id=f"u{i}", job_id=f"j{i}", pool=pool, **row))

    def pools() -> list[str]:
        with engine.connect() as conn:
            return list(conn.scalars(sa.select(usage_records.c.pool).order_by(usage_records.c.id)))

    upgrade(engine)
    assert pools() == ["open_calls", "member_pools", "directors_reserve", "sme", "member"]
    downgrade(engine, "0008")
    assert pools() == ["open-calls", "member-state", "directors-reserve", "sme", "member"]
    upgrade(engine)
    engine.dispose()
