"""The served application: API + portal + the log appender + the dispatch loop, over one Platform.

``uvicorn pnyx.server:create_app --factory`` (what ``pnyx serve`` runs).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio.to_thread
import httpx
from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from pnyx.api.app import create_api
from pnyx.db.engine import REQUEST_THREADS
from pnyx.db.migrate import ensure_current, require_database
from pnyx.dispatch.runner import DispatcherThread
from pnyx.portal.errors import install_error_pages
from pnyx.portal.oidc import SignInProvider
from pnyx.portal.routes import STATIC_DIR, create_portal
from pnyx.portal.sessions import SessionStore
from pnyx.settings import Settings
from pnyx.transparency.cosignature import CosignatureVerifier
from pnyx.transparency.witness_client import Witness, WitnessCollector
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


class WitnessThread:
    """Asks the witnesses (PNYX_WITNESSES) to cosign each new checkpoint, off the request path."""

    def __init__(self, platform: Platform) -> None:
        witnesses = [
            Witness(url, CosignatureVerifier.from_vkey(vkey)) for url, vkey in platform.settings.witnesses
        ]
        self.client = httpx.Client(timeout=10.0)
        self.collector = WitnessCollector(platform.log, witnesses, self.client)
        self.interval = platform.settings.log_append_interval_s
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, name="witness-collector", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join(timeout=15)
        self.client.close()

    def _run(self) -> None:
        backoff = self.interval
        while not self.stopping.is_set():
            try:
                done = self.collector.collect()
                backoff = self.interval if done is None or not done.missing else min(backoff * 2, 30.0)
            except Exception:
                log.exception("collecting cosignatures failed; retrying in %.1f s", backoff)
                backoff = min(backoff * 2, 30.0)
            self.stopping.wait(backoff)


def _platform_from_env() -> Platform:
    """The platform of the environment's database, which must exist (``pnyx db upgrade`` makes it)."""
    settings = Settings.from_env()
    require_database(settings.database_url)
    return build_platform(settings)


def create_app(
    platform: Platform | None = None,
    *,
    run_appender: bool = True,
    run_dispatcher: bool | None = None,
    sign_in_provider: SignInProvider | None = None,
) -> FastAPI:
    """The served app. The log appender and the dispatch loop run in background threads unless turned off
    (``PNYX_DISPATCH=0`` for a server beside a separate ``pnyx dispatch run``). The portal signs people
    in with API tokens, and with ``sign_in_provider`` (an OpenID Connect issuer) where one is given."""
    platform = platform or _platform_from_env()
    ensure_current(platform.engine)
    appender = LogAppender(platform) if run_appender and platform.log.signer is not None else None
    if run_dispatcher is None:
        run_dispatcher = platform.settings.dispatch
    dispatcher = DispatcherThread(platform) if run_dispatcher else None
    witnesses = WitnessThread(platform) if appender is not None and platform.settings.witnesses else None

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
        if witnesses is not None:
            witnesses.start()
        yield
        if witnesses is not None:
            witnesses.stop()
        if dispatcher is not None:
            dispatcher.stop()
        if appender is not None:
            appender.stop()

    app = create_api(platform)
    app.router.lifespan_context = lifespan
    app.state.portal_sessions = SessionStore(platform.clock)  # the portal's sessions, this process's
    app.state.sign_in_provider = sign_in_provider
    app.include_router(create_portal())
    install_error_pages(app)  # a browser's 404 in the portal's look; API clients keep problem+json
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app
