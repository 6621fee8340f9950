"""Leader election: of several dispatchers against one database, exactly one acts.

PostgreSQL: a session-level advisory lock held on a dedicated connection for the dispatcher's
life; it is released when the process ends or its connection drops, so a crashed leader is
replaced by the next one that asks. SQLite (one machine): an exclusive ``flock`` on a file.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import IO, Protocol

import sqlalchemy as sa

LOCK_KEY = 0x706E7978  # "pnyx"


class Leadership(Protocol):
    def acquire(self) -> bool:
        """True if this process is (still) the leader; never blocks."""
        ...

    def release(self) -> None: ...


class PostgresLeadership:
    def __init__(self, engine: sa.Engine, key: int = LOCK_KEY) -> None:
        self.engine = engine
        self.key = key
        self.conn: sa.Connection | None = None

    def acquire(self) -> bool:
        if self.conn is not None:
            try:
                self.conn.exec_driver_sql("SELECT 1")
                return True
            except sa.exc.DBAPIError:
                self.conn = None  # the connection, and with it the lock, is gone
        conn = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        if conn.execute(sa.text("SELECT pg_try_advisory_lock(:k)"), {"k": self.key}).scalar_one():
            self.conn = conn
            return True
        conn.close()
        return False

    def release(self) -> None:
        if self.conn is not None:
            self.conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": self.key})
            self.conn.close()
            self.conn = None


class FileLeadership:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.handle: IO[str] | None = None

    def acquire(self) -> bool:
        if self.handle is not None:
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = self.path.open("a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return False
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        self.handle = handle
        return True

    def release(self) -> None:
        if self.handle is not None:
            fcntl.flock(self.handle, fcntl.LOCK_UN)
            self.handle.close()
            self.handle = None


def leadership_for(engine: sa.Engine, data_dir: Path) -> Leadership:
    if engine.dialect.name == "postgresql":
        return PostgresLeadership(engine)
    return FileLeadership(data_dir / "dispatcher.lock")
