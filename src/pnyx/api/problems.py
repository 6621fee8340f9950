"""RFC 9457 problem+json for every error, so that clients get one shape everywhere."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

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


def problem(status: int, title: str, detail: str, code: str, **extra: Any) -> JSONResponse:
    body = {
        "type": f"https://pnyx.example/problems/{code}",
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
        **extra,
    }
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
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


async def http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    return problem(exc.status_code, str(exc.detail), str(exc.detail), code)


def install(app: FastAPI) -> None:
    app.add_exception_handler(FacilityError, facility_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(HTTPException, http_error)
