"""safety releases (k-of-n signed approvals, the new lower-labelled records) and incidents

Revision ID: 0011
Revises: 0010

A release decision publishes a new record of an artifact under a lower label (``safety_released``);
the original is never relabelled. Each approval keeps its Ed25519 signature, one per person.
Incidents keep the containment steps taken (``safety_incident_actions``) and what they froze
(``safety_frozen``: thawed when the incident is lifted).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    _releases()
    _incidents()


def _releases() -> None:
    op.create_table(
        "safety_releases",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("artifact", sa.String(length=300), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("project", sa.String(length=80), nullable=False),
        sa.Column("from_level", sa.SmallInteger(), nullable=False),
        sa.Column("from_categories", sa.JSON(), nullable=False),
        sa.Column("to_level", sa.SmallInteger(), nullable=False),
        sa.Column("to_categories", sa.JSON(), nullable=False),
        sa.Column("requester", sa.String(length=80), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("motion_id", sa.String(length=80), nullable=True),
        sa.Column("evaluations", sa.JSON(), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_safety_releases")),
    )
    with op.batch_alter_table("safety_releases", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_safety_releases_artifact"), ["artifact"], unique=False)
        batch_op.create_index(batch_op.f("ix_safety_releases_project"), ["project"], unique=False)
        batch_op.create_index(batch_op.f("ix_safety_releases_status"), ["status"], unique=False)
    op.create_table(
        "safety_approvals",
        sa.Column("release_id", sa.String(length=40), nullable=False),
        sa.Column("approver", sa.String(length=80), nullable=False),
        sa.Column("role", sa.String(length=40), nullable=False),
        sa.Column("key_id", sa.String(length=16), nullable=False),
        sa.Column("signature", sa.String(length=100), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["release_id"],
            ["safety_releases.id"],
            name=op.f("fk_safety_approvals_release_id_safety_releases"),
        ),
        sa.PrimaryKeyConstraint("release_id", "approver", name=op.f("pk_safety_approvals")),
    )
    op.create_table(
        "safety_released",
        sa.Column("release_id", sa.String(length=40), nullable=False),
        sa.Column("artifact", sa.String(length=300), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("level", sa.SmallInteger(), nullable=False),
        sa.Column("categories", sa.JSON(), nullable=False),
        sa.Column("released_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["release_id"], ["safety_releases.id"], name=op.f("fk_safety_released_release_id_safety_releases")
        ),
        sa.PrimaryKeyConstraint("release_id", name=op.f("pk_safety_released")),
    )
    with op.batch_alter_table("safety_released", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_safety_released_artifact"), ["artifact"], unique=False)
        batch_op.create_index(batch_op.f("ix_safety_released_sha256"), ["sha256"], unique=False)


def _incidents() -> None:
    op.create_table(
        "safety_incidents",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("subject_kind", sa.String(length=16), nullable=False),
        sa.Column("subject", sa.String(length=300), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("details_withheld", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("opened_by", sa.String(length=80), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lift_by", sa.JSON(), nullable=False),
        sa.Column("lifted_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_safety_incidents")),
    )
    with op.batch_alter_table("safety_incidents", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_safety_incidents_status"), ["status"], unique=False)
        batch_op.create_index(batch_op.f("ix_safety_incidents_subject"), ["subject"], unique=False)
    op.create_table(
        "safety_incident_actions",
        sa.Column("incident_id", sa.String(length=40), nullable=False),
        sa.Column("action", sa.String(length=20), nullable=False),
        sa.Column("target", sa.String(length=300), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["safety_incidents.id"],
            name=op.f("fk_safety_incident_actions_incident_id_safety_incidents"),
        ),
        sa.PrimaryKeyConstraint("incident_id", "action", "target", name=op.f("pk_safety_incident_actions")),
    )
    op.create_table(
        "safety_frozen",
        sa.Column("incident_id", sa.String(length=40), nullable=False),
        sa.Column("subject_kind", sa.String(length=16), nullable=False),
        sa.Column("subject", sa.String(length=300), nullable=False),
        sa.Column("frozen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("thawed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["safety_incidents.id"],
            name=op.f("fk_safety_frozen_incident_id_safety_incidents"),
        ),
        sa.PrimaryKeyConstraint("incident_id", "subject_kind", "subject", name=op.f("pk_safety_frozen")),
    )


def downgrade() -> None:
    for table in ("safety_frozen", "safety_incident_actions"):
        op.drop_table(table)
    with op.batch_alter_table("safety_incidents", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_safety_incidents_subject"))
        batch_op.drop_index(batch_op.f("ix_safety_incidents_status"))
    op.drop_table("safety_incidents")
    with op.batch_alter_table("safety_released", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_safety_released_sha256"))
        batch_op.drop_index(batch_op.f("ix_safety_released_artifact"))
    op.drop_table("safety_released")
    op.drop_table("safety_approvals")
    with op.batch_alter_table("safety_releases", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_safety_releases_status"))
        batch_op.drop_index(batch_op.f("ix_safety_releases_project"))
        batch_op.drop_index(batch_op.f("ix_safety_releases_artifact"))
    op.drop_table("safety_releases")
