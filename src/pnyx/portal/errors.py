"""Error pages in the portal's look: a browser that asks for a page the server does not have (or
with a query it cannot read) gets the portal's 404, not JSON; API clients keep problem+json."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException
from starlette.responses import Response

from pnyx.portal.routes import portal_templates

Handler = Callable[[Request, Exception], Response | Awaitable[Response]]
MACHINE_PREFIXES = ("/api/", "/log/", "/health", "/static/")  # JSON, tiles and files: never a page
TITLES = {400: "Bad request", 401: "Sign-in needed", 403: "Not allowed", 404: "Not found", 413: "Too large"}


def wants_page(request: Request) -> bool:
    """Portal paths always; elsewhere, a browser's navigation (it accepts HTML) outside the API."""
    path = request.url.path
    if path.startswith("/portal"):
        return True
    return not path.startswith(MACHINE_PREFIXES) and "text/html" in request.headers.get("accept", "")


def error_page(templates: Jinja2Templates, request: Request, status: int, message: str) -> Response:
    title = TITLES.get(status, "Error")
    return templates.TemplateResponse(
        request, "error.html", {"title": title, "message": message}, status_code=status
    )


def install_error_pages(app: FastAPI) -> None:
    """Put the page in front of the handlers the API installed; what is not a page goes to them."""
    templates = portal_templates()
    handlers: Mapping[type[Exception] | int, Handler] = dict(app.exception_handlers)
    app.add_exception_handler(HTTPException, _http_page(templates, handlers[HTTPException]))
    app.add_exception_handler(
        RequestValidationError, _query_page(templates, handlers[RequestValidationError])
    )


def _http_page(templates: Jinja2Templates, api: Handler) -> Handler:
    async def handle(request: Request, exc: Exception) -> Response:
        if isinstance(exc, HTTPException) and exc.status_code < 500 and wants_page(request):
            message = "There is no such page here." if exc.status_code == 404 else str(exc.detail)
            return error_page(templates, request, exc.status_code, message)
        return await _call(api, request, exc)

    return handle


def _query_page(templates: Jinja2Templates, api: Handler) -> Handler:
    async def handle(request: Request, exc: Exception) -> Response:
        if not wants_page(request):
            return await _call(api, request, exc)
        named = unreadable_fields(exc)
        if not named:  # a path it cannot read: as if there were no such page
            return error_page(templates, request, 404, "There is no such page here.")
        return error_page(templates, request, 400, named)

    return handle


def unreadable_fields(exc: Exception) -> str:
    """The query or form fields a page could not read, each with why ("start: ..."); empty when only
    the path was unreadable."""
    errors = exc.errors() if isinstance(exc, RequestValidationError) else []
    said = [f"{e['loc'][-1]}: {e['msg']}" for e in errors if e.get("loc", ("path",))[0] in ("query", "body")]
    return "; ".join(said)


async def _call(handler: Handler, request: Request, exc: Exception) -> Response:
    response = handler(request, exc)
    return await response if isinstance(response, Awaitable) else response
