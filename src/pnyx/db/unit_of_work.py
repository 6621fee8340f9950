"""One transaction per use case, with the events it emits written in the same transaction: encoded
and checked when emitted, inserted into the outbox in one statement at commit, in emit order."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from pnyx.core.clock import Clock
from pnyx.core.errors import InvalidInput
from pnyx.core.events import DomainEvent, entry_bytes
from pnyx.db.engine import WRITE_OPTION
from pnyx.db.outbox import MAX_ENTRY_BYTES, outbox

_APPEND = outbox.insert()  # built once: a statement made per event costs its construction and cache key


@dataclass(slots=True)
class Transaction:
    """What a service sees inside a unit of work: a connection, the time, and ``emit``. ``events`` is
    what commits to the outbox: a change undone in a savepoint removes its events from it."""

    conn: sa.Connection
    now: datetime
    events: list[DomainEvent] = field(default_factory=list)
    # each emitted event's outbox row by id(event), encoded once; an id reused by a later event is
    # one whose first owner is gone, so never in ``events`` any more: its row is overwritten
    rows: dict[int, dict[str, Any]] = field(default_factory=dict, repr=False)

    def emit(self, event: DomainEvent) -> None:
        entry = entry_bytes(event, self.now)
        if len(entry) > MAX_ENTRY_BYTES:
            raise InvalidInput(f"event {event.event_type} encodes to {len(entry)} bytes; the limit is 65535")
        self.rows[id(event)] = {"event_type": event.event_type, "entry": entry, "occurred_at": self.now}
        self.events.append(event)

    def flush(self) -> None:
        """The outbox rows of ``events``, in emit order (the log's), in one statement."""
        if self.events:
            self.conn.execute(_APPEND, [self.rows[id(e)] for e in self.events])


@dataclass(frozen=True, slots=True)
class UnitOfWork:
    engine: sa.Engine
    clock: Clock

    @contextmanager
    def write(self) -> Iterator[Transaction]:
        """A read-write transaction: commits on success, rolls back on any exception."""
        with self.engine.connect().execution_options(**{WRITE_OPTION: True}) as conn, conn.begin():
            tx = Transaction(conn=conn, now=self.clock.now())
            yield tx
            tx.flush()

    @contextmanager
    def read(self) -> Iterator[sa.Connection]:
        with self.engine.connect() as conn, conn.begin():
            yield conn
