"""The API application factory."""

from __future__ import annotations

from fastapi import FastAPI

from pnyx import __version__
from pnyx.api import problems
from pnyx.api.routes import accounting, allocation, council, governance, identity, inventory, jobs, log
from pnyx.wiring import Platform


def create_api(platform: Platform) -> FastAPI:
    app = FastAPI(
        title="Pnyx",
        version=__version__,
        description="Operating platform of a publicly funded, internationally governed AI supercomputer.",
        openapi_url="/api/openapi.json",
        docs_url="/api/docs",
        redoc_url=None,
    )
    app.state.platform = platform
    app.state.authenticator = platform.identity
    problems.install(app)
    app.include_router(log.tiles)
    app.include_router(log.api)
    app.include_router(identity.router)
    app.include_router(governance.router)
    app.include_router(council.router)
    app.include_router(inventory.router)
    app.include_router(accounting.router)
    app.include_router(allocation.router)
    app.include_router(jobs.router)

    @app.get("/health", tags=["health"])
    def health() -> dict[str, object]:
        return {"status": "ok", "version": __version__, "log_size": platform.log.size()}

    return app
