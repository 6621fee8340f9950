"""The API application factory."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import anyio
from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse

from pnyx import __version__
from pnyx.api import problems
from pnyx.api.headers import SecurityHeaders, content_security_policy, inline_hashes
from pnyx.api.limits import BodyLimit
from pnyx.api.routes import (
    accounting,
    allocation,
    council,
    governance,
    identity,
    inventory,
    jobs,
    log,
    review,
)
from pnyx.api.routes import registry_datasets as dataset_routes
from pnyx.api.routes import registry_evaluations as evaluation_routes
from pnyx.api.routes import registry_models as model_routes
from pnyx.api.routes import safety as safety_routes
from pnyx.api.routes import safety_releases as release_routes
from pnyx.api.routes import sme as sme_routes
from pnyx.api.routes import sme_jobs as sme_job_routes
from pnyx.wiring import Platform

OPENAPI_URL = "/api/openapi.json"
VENDOR = "/static/vendor"  # Swagger UI and ReDoc, vendored: the docs work offline (see vendor/VERSIONS)
HEALTH_THREADS = 2


def create_api(platform: Platform) -> FastAPI:
    app = FastAPI(
        title="Pnyx",
        version=__version__,
        description="Operating platform of a publicly funded, internationally governed AI supercomputer.",
        openapi_url=OPENAPI_URL,
        docs_url=None,
        redoc_url=None,
    )
    app.state.platform = platform
    app.state.authenticator = platform.identity
    problems.install(app)
    app.add_middleware(
        BodyLimit, max_bytes=platform.settings.max_body_bytes, exempt=sme_routes.STREAMED
    )  # an SME object's ciphertext: bounded by PNYX_WORKSPACE_OBJECT_BYTES in its route
    app.add_middleware(SecurityHeaders)  # outermost of the two: the 413 carries the headers too
    for router in (log.tiles, log.api, identity.router, governance.router, council.router):
        app.include_router(router)
    for router in (inventory.router, accounting.router, allocation.router, review.router, jobs.router):
        app.include_router(router)
    app.include_router(safety_routes.router)
    app.include_router(release_routes.router)
    app.include_router(dataset_routes.router)
    app.include_router(model_routes.router)
    app.include_router(evaluation_routes.router)
    app.include_router(sme_routes.router)
    app.include_router(sme_job_routes.router)
    add_docs(app)
    health_threads = anyio.CapacityLimiter(HEALTH_THREADS)

    @app.get("/health", tags=["health"])
    async def health() -> dict[str, object]:
        """Answers while every request thread is busy: its one read runs on threads of its own."""
        size = await anyio.to_thread.run_sync(platform.log.size, limiter=health_threads)
        return {"status": "ok", "version": __version__, "log_size": size}

    return app


def add_docs(app: FastAPI) -> None:
    """Swagger UI at /api/docs and ReDoc at /api/redoc, from vendored files, each with a fitting CSP."""
    swagger = get_swagger_ui_html(
        openapi_url=OPENAPI_URL,
        title="Pnyx API",
        swagger_js_url=f"{VENDOR}/swagger-ui-bundle.js",
        swagger_css_url=f"{VENDOR}/swagger-ui.css",
        swagger_favicon_url=f"{VENDOR}/favicon-32x32.png",
        swagger_ui_parameters={"validatorUrl": None},  # no badge fetched from swagger.io
    )
    redoc = get_redoc_html(
        openapi_url=OPENAPI_URL,
        title="Pnyx API",
        redoc_js_url=f"{VENDOR}/redoc.standalone.js",
        redoc_favicon_url=f"{VENDOR}/favicon-32x32.png",
        with_google_fonts=False,
    )
    swagger_script = inline_hashes(bytes(swagger.body).decode())
    # ReDoc styles itself with injected <style> elements and parses in a blob: worker; scripts stay strict.
    pages = {
        "/api/docs": (swagger, content_security_policy(script_src=f"'self' {swagger_script}")),
        "/api/redoc": (
            redoc,
            content_security_policy(style_src="'self' 'unsafe-inline'", worker_src="'self' blob:"),
        ),
    }
    for path, (page, policy) in pages.items():
        app.add_api_route(path, docs_page(bytes(page.body), policy), methods=["GET"], include_in_schema=False)


def docs_page(body: bytes, policy: str) -> Callable[[], Awaitable[HTMLResponse]]:
    async def page() -> HTMLResponse:
        return HTMLResponse(body, headers={"Content-Security-Policy": policy})

    return page
