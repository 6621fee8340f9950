"""Log tables and the repository the log service reads and writes through.

``log_nodes`` holds the hash of every complete subtree: (level, index) covers leaves
[index * 2**level, (index + 1) * 2**level). Level 0 holds the leaf hashes. Tiles are
slices of levels 0, 8, 16, ...; proofs read O(log n) rows in one query.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa

from pnyx.db.metadata import UtcDateTime, metadata
from pnyx.db.outbox import outbox
from pnyx.transparency.model import LogEntry, SignedCheckpoint

BIG = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

log_state = sa.Table(
    "log_state",
    metadata,
    sa.Column("id", sa.Integer(), primary_key=True),
    sa.Column("size", sa.BigInteger(), nullable=False),
)

log_entries = sa.Table(
    "log_entries",
    metadata,
    sa.Column("idx", BIG, primary_key=True, autoincrement=False),
    sa.Column("event_type", sa.String(120), nullable=False, index=True),  # finding an entry by its type
    sa.Column("data", sa.LargeBinary(), nullable=False),
    sa.Column("appended_at", UtcDateTime(), nullable=False),
)

log_nodes = sa.Table(
    "log_nodes",
    metadata,
    sa.Column("level", sa.SmallInteger(), primary_key=True, autoincrement=False),
    sa.Column("idx", BIG, primary_key=True, autoincrement=False),
    sa.Column("hash", sa.LargeBinary(32), nullable=False),
)

log_checkpoints = sa.Table(
    "log_checkpoints",
    metadata,
    sa.Column("size", BIG, primary_key=True, autoincrement=False),
    sa.Column("root", sa.LargeBinary(32), nullable=False),
    sa.Column("note", sa.Text(), nullable=False),
    sa.Column("signed_at", UtcDateTime(), nullable=False),
)


class LogRepository:
    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn

    # --- the appender's side -------------------------------------------------------------------

    def lock_size(self) -> int:
        """The log size, locking the state row so that one appender at a time extends the log."""
        query = sa.select(log_state.c.size).where(log_state.c.id == 1).with_for_update()
        size = self.conn.execute(query).scalar_one_or_none()
        if size is None:
            self.conn.execute(log_state.insert().values(id=1, size=0))
            return 0
        return int(size)

    def pending_events(self, limit: int) -> list[tuple[int, str, bytes]]:
        """Up to ``limit`` outbox rows (id, event type, entry bytes), oldest first."""
        query = sa.select(outbox.c.id, outbox.c.event_type, outbox.c.entry).order_by(outbox.c.id).limit(limit)
        return [(int(i), str(t), bytes(e)) for i, t, e in self.conn.execute(query)]

    def consume_events(self, ids: Sequence[int]) -> None:
        self.conn.execute(outbox.delete().where(outbox.c.id.in_(ids)))

    def add_entries(self, entries: Sequence[LogEntry]) -> None:
        self.conn.execute(
            log_entries.insert(),
            [
                {"idx": e.index, "event_type": e.event_type, "data": e.data, "appended_at": e.appended_at}
                for e in entries
            ],
        )

    def add_nodes(self, nodes: Sequence[tuple[int, int, bytes]]) -> None:
        self.conn.execute(log_nodes.insert(), [{"level": lv, "idx": i, "hash": h} for lv, i, h in nodes])

    def set_size(self, size: int) -> None:
        self.conn.execute(log_state.update().where(log_state.c.id == 1).values(size=size))

    def add_checkpoint(self, checkpoint: SignedCheckpoint) -> None:
        self.conn.execute(
            log_checkpoints.insert().values(
                size=checkpoint.size,
                root=checkpoint.root,
                note=checkpoint.note,
                signed_at=checkpoint.signed_at,
            )
        )

    def set_note(self, size: int, note: str) -> None:
        """Replace a checkpoint's note (the same note with witnesses' cosignatures appended)."""
        self.conn.execute(log_checkpoints.update().where(log_checkpoints.c.size == size).values(note=note))

    # --- the reader's side ---------------------------------------------------------------------

    def nodes(self, keys: Sequence[tuple[int, int]]) -> Sequence[bytes]:
        """Complete-subtree hashes for ``keys``, in order, in one query. Missing keys raise KeyError."""
        if not keys:
            return []
        wanted = sa.or_(*(sa.and_(log_nodes.c.level == lv, log_nodes.c.idx == i) for lv, i in set(keys)))
        rows = self.conn.execute(
            sa.select(log_nodes.c.level, log_nodes.c.idx, log_nodes.c.hash).where(wanted)
        )
        found = {(int(lv), int(i)): bytes(h) for lv, i, h in rows}
        return [found[k] for k in keys]

    def level_range(self, level: int, start: int, count: int) -> list[bytes]:
        query = (
            sa.select(log_nodes.c.hash)
            .where(log_nodes.c.level == level, log_nodes.c.idx >= start, log_nodes.c.idx < start + count)
            .order_by(log_nodes.c.idx)
        )
        return [bytes(h) for h in self.conn.execute(query).scalars()]

    def entries(self, start: int, count: int) -> list[LogEntry]:
        # A limit, not ``idx < start + count``: that sum may pass what a 64-bit column compares with.
        query = (
            sa.select(log_entries).where(log_entries.c.idx >= start).order_by(log_entries.c.idx).limit(count)
        )
        return [_entry(r) for r in self.conn.execute(query).mappings()]

    def entries_of(
        self, kind: str, count: int, *, start: int | None = None, before: int | None = None
    ) -> list[LogEntry]:
        """Up to ``count`` entries of one type, or of a domain (``governance`` for ``governance.*``),
        oldest first: from index ``start`` on, or else the newest before ``before`` (None: the newest)."""
        of = (
            log_entries.c.event_type == kind
            if "." in kind
            else log_entries.c.event_type.startswith(kind + ".", autoescape=True)
        )
        query = sa.select(log_entries).where(of).limit(count)
        if start is not None:
            query = query.where(log_entries.c.idx >= start).order_by(log_entries.c.idx)
        else:
            query = query.order_by(log_entries.c.idx.desc())
            query = query if before is None else query.where(log_entries.c.idx < before)
        return sorted((_entry(r) for r in self.conn.execute(query).mappings()), key=lambda e: e.index)

    def find_entry(self, event_type: str, data: bytes) -> int | None:
        """The index of the entry of ``event_type`` whose bytes are exactly ``data`` (the first)."""
        query = (
            sa.select(log_entries.c.idx)
            .where(log_entries.c.event_type == event_type, log_entries.c.data == data)
            .order_by(log_entries.c.idx)
            .limit(1)
        )
        found = self.conn.execute(query).scalar_one_or_none()
        return None if found is None else int(found)

    def latest_checkpoint(self) -> SignedCheckpoint | None:
        query = sa.select(log_checkpoints).order_by(log_checkpoints.c.size.desc()).limit(1)
        row = self.conn.execute(query).mappings().first()
        return None if row is None else _checkpoint(row)

    def checkpoints_since(self, signed_at: datetime, limit: int) -> list[SignedCheckpoint]:
        """Up to ``limit`` checkpoints signed at or after ``signed_at``, newest first."""
        query = (
            sa.select(log_checkpoints)
            .where(log_checkpoints.c.signed_at >= signed_at)
            .order_by(log_checkpoints.c.size.desc())
            .limit(limit)
        )
        return [_checkpoint(row) for row in self.conn.execute(query).mappings()]

    def checkpoint_at(self, size: int) -> SignedCheckpoint | None:
        row = (
            self.conn.execute(sa.select(log_checkpoints).where(log_checkpoints.c.size == size))
            .mappings()
            .first()
        )
        return None if row is None else _checkpoint(row)


def _entry(row: sa.RowMapping) -> LogEntry:
    return LogEntry(
        index=int(row["idx"]),
        event_type=row["event_type"],
        data=bytes(row["data"]),
        appended_at=row["appended_at"],
    )


def _checkpoint(row: sa.RowMapping) -> SignedCheckpoint:
    return SignedCheckpoint(
        size=int(row["size"]), root=bytes(row["root"]), note=row["note"], signed_at=row["signed_at"]
    )
