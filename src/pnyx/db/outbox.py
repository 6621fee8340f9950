"""The outbox: domain events written in the transaction of the change that caused them.

Each row holds the event already encoded as its future log entry: RFC 8785 canonical JSON of
``{"type", "occurred_at", "data"}``, at most 65,535 bytes (a tlog-tiles entry bundle length prefix).

The transparency log appender drains it, in commit order, into the log (see
``pnyx.transparency.service``); other consumers then follow the log, which is gap-free.
"""

from __future__ import annotations

import sqlalchemy as sa

from pnyx.db.metadata import UtcDateTime, metadata

MAX_ENTRY_BYTES = 65535

outbox = sa.Table(
    "outbox",
    metadata,
    sa.Column(
        "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True
    ),
    sa.Column("event_type", sa.String(120), nullable=False),
    sa.Column("entry", sa.LargeBinary(), nullable=False),  # the log entry's exact bytes
    sa.Column("occurred_at", UtcDateTime(), nullable=False),
)


def newest_of(
    conn: sa.Connection, event_type: str, count: int, below: int | None = None
) -> list[tuple[int, bytes]]:
    """(id, entry bytes) of up to ``count`` events of one type still waiting, newest first, with ids
    below ``below`` (None: the newest)."""
    query = sa.select(outbox.c.id, outbox.c.entry).where(outbox.c.event_type == event_type)
    if below is not None:
        query = query.where(outbox.c.id < below)
    return [(int(i), bytes(e)) for i, e in conn.execute(query.order_by(outbox.c.id.desc()).limit(count))]
