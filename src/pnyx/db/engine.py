"""Engine construction for SQLite (embedded default) and PostgreSQL (production).

Pool sizing: the server runs blocking request code on ``REQUEST_THREADS`` worker threads (``server.py``
sets anyio's limiter to it), and a request holds at most one pooled connection at a time. The pool has
room for every worker plus ``BACKGROUND_CONNECTIONS`` (``/health``, the dispatch loop, the log appender),
so a request never waits for a connection; if one ever does for ``POOL_TIMEOUT_S``, the API answers 503
with Retry-After. Statement parameters never reach logs or error messages (``hide_parameters``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa

WRITE_OPTION = "pnyx_write"
REQUEST_THREADS = 32
BACKGROUND_CONNECTIONS = 8
POOL_SIZE = REQUEST_THREADS + BACKGROUND_CONNECTIONS
POOL_TIMEOUT_S = 10.0
POOL = {"pool_size": POOL_SIZE, "max_overflow": 0, "pool_timeout": POOL_TIMEOUT_S}


def create_engine(url: str, *, echo: bool = False) -> sa.Engine:
    if url.startswith("sqlite"):
        return _sqlite_engine(url, echo=echo)
    return sa.create_engine(url, echo=echo, hide_parameters=True, pool_pre_ping=True, **POOL)


def _sqlite_engine(url: str, *, echo: bool) -> sa.Engine:
    database = sa.engine.make_url(url).database
    on_disk = bool(database) and database != ":memory:"
    if on_disk:
        Path(str(database)).parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(
        url,
        echo=echo,
        hide_parameters=True,
        connect_args={"timeout": 30, "check_same_thread": False},
        **(POOL if on_disk else {}),
    )

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control away from the driver so that BEGIN is ours to spell.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")  # acknowledged means on disk
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        # Writers take the write lock up front: no deadlock-prone lock upgrade later.
        immediate = conn.get_execution_options().get(WRITE_OPTION, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine
