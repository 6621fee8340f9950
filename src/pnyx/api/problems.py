"""RFC 9457 problem+json for every error, so that clients get one shape everywhere."""

from __future__ import annotations

import html
import logging
from typing import Any

import sqlalchemy as sa
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.exceptions import HTTPException

from pnyx.api.headers import DEFAULT_HEADERS
from pnyx.core.errors import ErrorKind, FacilityError

STATUS = {
    ErrorKind.INVALID: 400,
    ErrorKind.UNAUTHENTICATED: 401,
    ErrorKind.FORBIDDEN: 403,
    ErrorKind.NOT_FOUND: 404,
    ErrorKind.CONFLICT: 409,
    ErrorKind.UNAVAILABLE: 503,
    ErrorKind.INTEGRITY: 500,
}
MEDIA_TYPE = "application/problem+json"
RETRY_AFTER_S = 2
HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 413: "body_too_large"}
BODY_UNPARSEABLE = "the request body is not readable JSON: a number too long, nesting too deep, or not UTF-8"
log = logging.getLogger("pnyx.api")


def problem(status: int, title: str, detail: str, code: str, **extra: Any) -> JSONResponse:
    body = {
        "type": f"https://pnyx.example/problems/{code}",
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
        **extra,
    }
    headers = {401: {"WWW-Authenticate": "Bearer"}, 503: {"Retry-After": str(RETRY_AFTER_S)}}.get(status)
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE, headers=headers)


async def facility_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, FacilityError)
    extra = {"field": exc.field} if exc.field else {}
    return problem(STATUS[exc.kind], exc.kind.value.replace("_", " "), exc.message, exc.code, **extra)


async def validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [{"field": ".".join(str(p) for p in err["loc"]), "message": err["msg"]} for err in exc.errors()]
    fields = ", ".join(e["field"] for e in errors)
    return problem(
        422,
        "invalid request",
        f"invalid field(s): {fields}",
        "validation_failed",
        errors=errors,
        field=errors[0]["field"] if errors else None,
    )


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if request.url.path.startswith("/portal"):  # people in browsers get a page, not JSON
        return HTMLResponse(_page(exc.status_code, str(exc.detail)), status_code=exc.status_code)
    if unparseable_body(exc):
        return problem(400, "unparseable body", BODY_UNPARSEABLE, "body_unparseable", field="body")
    code = HTTP_CODES.get(exc.status_code, "http_error")
    return problem(exc.status_code, str(exc.detail), str(exc.detail), code)


def unparseable_body(exc: HTTPException) -> bool:
    """FastAPI's 400 for a JSON body it could not read, raised from what stopped it: a number past
    Python's 4,300 digits, nesting deeper than its recursion limit, bytes that are not UTF-8."""
    return exc.status_code == 400 and isinstance(exc.__cause__, ValueError | RecursionError)


async def portal_validation_error(request: Request, exc: Exception) -> Response:
    if request.url.path.startswith("/portal"):
        return HTMLResponse(_page(404, "No such page."), status_code=404)
    return await validation_error(request, exc)


async def database_busy(_request: Request, exc: Exception) -> JSONResponse:
    """No connection free in time (pool timeout), or the database refused or dropped us: try again."""
    log.warning("database unavailable: %s", type(exc).__name__, exc_info=exc)
    busy = isinstance(exc, sa.exc.TimeoutError)
    return problem(
        503,
        "service unavailable",
        "the server is busy; try again shortly" if busy else "the database is unavailable; try again shortly",
        "server_busy" if busy else "database_unavailable",
    )


async def unexpected_error(_request: Request, exc: Exception) -> JSONResponse:
    """The last resort: still problem+json, with the details in the server's log, not the response."""
    log.error("unexpected error", exc_info=exc)
    response = problem(
        500,
        "internal error",
        "the server failed unexpectedly; the operators have the details",
        "internal_error",
    )
    response.headers.update(DEFAULT_HEADERS)  # sent from outside the security headers' middleware
    return response


def _page(status: int, detail: str) -> str:
    return (
        f"<!doctype html><title>{status}</title><link rel=stylesheet href=/static/style.css>"
        f"<main><h1>{status}</h1><p>{html.escape(detail)}</p>"
        "<p><a href=/>Back to the dashboard</a></p></main>"
    )


def install(app: FastAPI) -> None:
    app.add_exception_handler(FacilityError, facility_error)
    app.add_exception_handler(RequestValidationError, portal_validation_error)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(sa.exc.TimeoutError, database_busy)
    app.add_exception_handler(sa.exc.OperationalError, database_busy)
    app.add_exception_handler(Exception, unexpected_error)
