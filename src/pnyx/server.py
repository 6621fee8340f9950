"""The served application: API + portal + the log appender + the dispatch loop, over one Platform.

``uvicorn pnyx.server:create_app --factory`` (what ``pnyx serve`` runs).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio.to_thread
from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from pnyx.api.app import create_api
from pnyx.db.engine import REQUEST_THREADS
from pnyx.db.migrate import ensure_current
from pnyx.dispatch.runner import DispatcherThread
from pnyx.portal.routes import STATIC_DIR, create_portal
from pnyx.settings import Settings
from pnyx.wiring import Platform, build_platform

log = logging.getLogger("pnyx.server")


class LogAppender:
    """Drains the outbox into the transparency log in the background, while the server runs."""

    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, name="log-appender", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join(timeout=10)

    def _run(self) -> None:
        interval = self.platform.settings.log_append_interval_s
        backoff = interval
        while not self.stopping.is_set():
            try:
                appended = self.platform.log.append_pending().appended
                backoff = interval
            except Exception:
                log.exception("log append failed; retrying in %.1f s", backoff)
                appended = 0
                backoff = min(backoff * 2, 30.0)
            if appended == 0:
                self.stopping.wait(backoff)


def create_app(
    platform: Platform | None = None, *, run_appender: bool = True, run_dispatcher: bool | None = None
) -> FastAPI:
    """The served app. The log appender and the dispatch loop run in background threads unless turned off
    (``PNYX_DISPATCH=0`` for a server beside a separate ``pnyx dispatch run``)."""
    platform = platform or build_platform(Settings.from_env())
    ensure_current(platform.engine)
    appender = LogAppender(platform) if run_appender and platform.log.signer is not None else None
    if run_dispatcher is None:
        run_dispatcher = platform.settings.dispatch
    dispatcher = DispatcherThread(platform) if run_dispatcher else None

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # Request threads, each holding at most one pooled connection: the pool is sized to match.
        anyio.to_thread.current_default_thread_limiter().total_tokens = REQUEST_THREADS
        if appender is not None:
            appender.start()
        elif run_appender:
            log.warning(
                "no log signing key at %s: events queue up unlogged until `pnyx log keygen`",
                platform.settings.log_key_file,
            )
        if dispatcher is not None:
            dispatcher.start()
        yield
        if dispatcher is not None:
            dispatcher.stop()
        if appender is not None:
            appender.stop()

    app = create_api(platform)
    app.router.lifespan_context = lifespan
    app.include_router(create_portal())
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app
