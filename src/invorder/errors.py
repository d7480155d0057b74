"""The error hierarchy domain code raises; the API turns each kind into one problem-details status."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar


@dataclass
class FieldError:
    field: str
    message: str


@dataclass
class InvorderError(Exception):
    """Base of every error invorder raises on purpose. `detail` is for humans."""

    detail: str
    errors: list[FieldError] = field(default_factory=list)

    status = 500
    title = "Internal error"
    slug = "internal"
    headers: ClassVar[dict[str, str]] = {}

    def __str__(self) -> str:
        return self.detail

    @property
    def response_headers(self) -> dict[str, str]:
        """The headers of the answer that carries this error."""
        return self.headers


class BadRequest(InvorderError):
    """Malformed input the schema refuses too (Litestar's own 400s share this slug)."""

    status = 400
    title = "Invalid request"
    slug = "invalid-request"


class InvalidInput(InvorderError):
    status = 422
    title = "Invalid input"
    slug = "invalid-input"


class NotFound(InvorderError):
    status = 404
    title = "Not found"
    slug = "not-found"


class Conflict(InvorderError):
    status = 409
    title = "Conflict"
    slug = "conflict"


class PreconditionFailed(InvorderError):
    status = 412
    title = "Precondition failed"
    slug = "precondition-failed"


class IdempotencyMismatch(InvorderError):
    status = 422
    title = "Idempotency key reused with a different request"
    slug = "idempotency-key-mismatch"


class Unauthorized(InvorderError):
    status = 401
    title = "Unauthorized"
    slug = "unauthorized"
    headers: ClassVar[dict[str, str]] = {"WWW-Authenticate": 'Bearer realm="invorder"'}


class UnauthorizedBrowser(Unauthorized):
    """A 401 that also asks a browser for HTTP Basic credentials (the key as password)."""

    headers: ClassVar[dict[str, str]] = {
        "WWW-Authenticate": 'Basic realm="invorder", charset="UTF-8", Bearer realm="invorder"'
    }


class Forbidden(InvorderError):
    status = 403
    title = "Forbidden"
    slug = "forbidden"


@dataclass
class Unavailable(InvorderError):
    """The request could not be served now and may be sent again: its answer says when, in
    `Retry-After` (delay-seconds, 1-30)."""

    retry_after_s: int = 5

    status = 503
    title = "Service unavailable"
    slug = "unavailable"

    @property
    def response_headers(self) -> dict[str, str]:
        return {**self.headers, "Retry-After": str(min(30, max(1, self.retry_after_s)))}
