"""Safety classifications and officers' keys: tables and one repository each.

FLOP are stored as decimal text (exact on both databases); levels as their number (1..4).
Releases and incidents keep their own tables (``release_store``, ``incident_store``); they read
officers' keys through ``OfficerKeyRepository``.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from pnyx.core.errors import NotFound
from pnyx.db.metadata import UtcDateTime, metadata
from pnyx.safety.model import Classification, ClassificationStatus, OfficerKey, SafetyLevel

NAME = 80  # a project id or a user name

classifications = sa.Table(
    "safety_classifications",
    metadata,
    sa.Column("project", sa.String(NAME), primary_key=True),
    sa.Column("level", sa.SmallInteger(), nullable=False),
    sa.Column("status", sa.String(20), nullable=False, index=True),
    sa.Column("basis", sa.Text(), nullable=False),
    sa.Column("categories", sa.JSON(), nullable=False),  # sorted list of names
    sa.Column("metered_flop", sa.String(80), nullable=False),  # decimal text
    sa.Column("decided_by", sa.JSON(), nullable=False),  # officers' names, in order
    sa.Column("pending_level", sa.SmallInteger(), nullable=True),
    sa.Column("pending_by", sa.String(NAME), nullable=True),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
)

officer_keys = sa.Table(
    "safety_officer_keys",
    metadata,
    sa.Column("key_id", sa.String(16), primary_key=True),
    sa.Column("user_name", sa.String(NAME), nullable=False, index=True),
    sa.Column("public_key", sa.String(64), nullable=False, unique=True),  # base64 of 32 raw bytes
    sa.Column("registered_at", UtcDateTime(), nullable=False),
    sa.Column("revoked_at", UtcDateTime(), nullable=True),
)


def _row(c: Classification) -> dict[str, Any]:
    return {
        "project": c.project,
        "level": int(c.level),
        "status": c.status.value,
        "basis": c.basis,
        "categories": sorted(c.categories),
        "metered_flop": str(c.metered_flop),
        "decided_by": list(c.decided_by),
        "pending_level": None if c.pending_level is None else int(c.pending_level),
        "pending_by": c.pending_by,
        "updated_at": c.updated_at,
    }


def _saved(c: Classification) -> dict[str, Any]:
    """The row's values to save over the project's row (``_SAVE``)."""
    row = _row(c)
    row["saved"] = row.pop("project")
    return row


def _classification(row: sa.RowMapping) -> Classification:
    pending = row["pending_level"]
    return Classification(
        project=row["project"],
        level=SafetyLevel(row["level"]),
        status=ClassificationStatus(row["status"]),
        basis=row["basis"],
        categories=frozenset(row["categories"]),
        metered_flop=Decimal(row["metered_flop"]),
        decided_by=tuple(row["decided_by"]),
        pending_level=None if pending is None else SafetyLevel(pending),
        pending_by=row["pending_by"],
        updated_at=row["updated_at"],
    )


# the columns set are each parameter set's keys: all but the project, matched on "saved"
_SAVE = classifications.update().where(classifications.c.project == sa.bindparam("saved"))


class ClassificationRepository:
    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn

    def add_once(self, c: Classification) -> bool:
        """Insert unless the project is classified already (a concurrent first classification): True
        when this call inserted it."""
        dialect = postgresql if self.conn.dialect.name == "postgresql" else sqlite
        insert = dialect.insert(classifications).values(**_row(c)).on_conflict_do_nothing()
        return self.conn.execute(insert.returning(classifications.c.project)).first() is not None

    def save(self, c: Classification) -> None:
        self.save_all([c])

    def save_all(self, changed: Sequence[Classification]) -> None:
        """Each classification saved over its project's row, all in one statement (executemany)."""
        if changed:
            self.conn.execute(_SAVE, [_saved(c) for c in changed])

    def get(self, project: str, *, for_update: bool = False) -> Classification | None:
        query = sa.select(classifications).where(classifications.c.project == project)
        row = self.conn.execute(query.with_for_update() if for_update else query).mappings().first()
        return None if row is None else _classification(row)

    def several(self, projects: Collection[str], *, for_update: bool = False) -> dict[str, Classification]:
        """The classifications of those of ``projects`` that have one, by project, in one statement;
        ``for_update`` locks them in project order (two lockers of overlapping sets never deadlock)."""
        column = classifications.c.project
        query = sa.select(classifications).where(column.in_(sorted(projects))).order_by(column)
        rows = self.conn.execute(query.with_for_update() if for_update else query).mappings()
        return {row["project"]: _classification(row) for row in rows}

    def require(self, project: str, *, for_update: bool = False) -> Classification:
        found = self.get(project, for_update=for_update)
        if found is None:
            raise NotFound(
                f"project {project!r} is not classified yet: `pnyx safety classify {project}` derives it "
                "from its proposal",
                field="project_id",
                code="classification_not_found",
            )
        return found

    def with_status(self, statuses: frozenset[ClassificationStatus]) -> list[Classification]:
        query = (
            sa.select(classifications)
            .where(classifications.c.status.in_([s.value for s in statuses]))
            .order_by(classifications.c.updated_at, classifications.c.project)
        )
        return [_classification(r) for r in self.conn.execute(query).mappings()]

    def levels(self) -> list[tuple[str, SafetyLevel]]:
        """Every classified project and its level, by project id."""
        query = sa.select(classifications.c.project, classifications.c.level).order_by(
            classifications.c.project
        )
        return [(r.project, SafetyLevel(r.level)) for r in self.conn.execute(query)]


def _key(row: sa.RowMapping) -> OfficerKey:
    return OfficerKey(
        user=row["user_name"],
        key_id=row["key_id"],
        public_key=row["public_key"],
        registered_at=row["registered_at"],
        revoked_at=row["revoked_at"],
    )


class OfficerKeyRepository:
    """Approvers' Ed25519 public keys. ``keys_of`` and ``key`` are what release checks read."""

    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn

    def add(self, key: OfficerKey) -> None:
        self.conn.execute(
            officer_keys.insert().values(
                key_id=key.key_id,
                user_name=key.user,
                public_key=key.public_key,
                registered_at=key.registered_at,
                revoked_at=key.revoked_at,
            )
        )

    def revoke(self, key_id: str, at: datetime) -> None:
        self.conn.execute(officer_keys.update().where(officer_keys.c.key_id == key_id).values(revoked_at=at))

    def key(self, key_id: str) -> OfficerKey | None:
        """The key by its id, revoked or not (a revoked key verifies approvals made before)."""
        query = sa.select(officer_keys).where(officer_keys.c.key_id == key_id)
        row = self.conn.execute(query).mappings().first()
        return None if row is None else _key(row)

    def keys_of(self, user: str) -> list[OfficerKey]:
        """The user's keys, revoked ones included, oldest first."""
        query = (
            sa.select(officer_keys)
            .where(officer_keys.c.user_name == user)
            .order_by(officer_keys.c.registered_at, officer_keys.c.key_id)
        )
        return [_key(r) for r in self.conn.execute(query).mappings()]

    def all(self) -> list[OfficerKey]:
        query = sa.select(officer_keys).order_by(officer_keys.c.user_name, officer_keys.c.registered_at)
        return [_key(r) for r in self.conn.execute(query).mappings()]
