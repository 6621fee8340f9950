"""One error family with stable codes. Rules raise; edges translate.

The ``code`` is part of the public contract: API clients and scripts match on it.
The ``kind`` tells an edge how to translate (the API maps it to an HTTP status).
"""

from __future__ import annotations

from enum import StrEnum


class ErrorKind(StrEnum):
    INVALID = "invalid"  # bad input: 400/422
    UNAUTHENTICATED = "unauthenticated"  # 401
    FORBIDDEN = "forbidden"  # 403
    NOT_FOUND = "not_found"  # 404
    CONFLICT = "conflict"  # 409
    UNAVAILABLE = "unavailable"  # 503: a dependency is not ready (unmigrated database, no key)
    INTEGRITY = "integrity"  # 500-class: stored data contradicts itself (tampering)


EXIT_CODES = {  # the command-line edges' table (pnyx, and the standalone auditor): kind -> exit status
    ErrorKind.INVALID: 2,
    ErrorKind.UNAUTHENTICATED: 3,
    ErrorKind.FORBIDDEN: 3,
    ErrorKind.NOT_FOUND: 4,
    ErrorKind.CONFLICT: 5,
    ErrorKind.UNAVAILABLE: 6,
    ErrorKind.INTEGRITY: 7,
}


class FacilityError(Exception):
    """Base of every error the platform raises on purpose."""

    code: str = "facility_error"
    kind: ErrorKind = ErrorKind.INVALID

    def __init__(self, message: str, *, field: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        if code is not None:
            self.code = code


class InvalidInput(FacilityError):
    code = "invalid_input"
    kind = ErrorKind.INVALID


class Unauthenticated(FacilityError):
    code = "unauthenticated"
    kind = ErrorKind.UNAUTHENTICATED


class Forbidden(FacilityError):
    code = "forbidden"
    kind = ErrorKind.FORBIDDEN


class NotFound(FacilityError):
    code = "not_found"
    kind = ErrorKind.NOT_FOUND


class Conflict(FacilityError):
    code = "conflict"
    kind = ErrorKind.CONFLICT


class Unavailable(FacilityError):
    code = "unavailable"
    kind = ErrorKind.UNAVAILABLE


class IntegrityFailure(FacilityError):
    code = "integrity_failure"
    kind = ErrorKind.INTEGRITY
