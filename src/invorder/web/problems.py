"""RFC 9457 problem details: the one place errors become HTTP responses."""

from __future__ import annotations

import logging
from typing import Any

import msgspec
import psycopg
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.openapi import ResponseSpec
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR

from invorder.db import unavailable_from
from invorder.errors import InvorderError

log = logging.getLogger(__name__)
PROBLEM_JSON = "application/problem+json"
TYPE_BASE = "https://invorder.dev/problems/"


class ProblemFieldError(msgspec.Struct, frozen=True):
    field: str
    message: str


class Problem(msgspec.Struct, frozen=True):
    """An error answer (RFC 9457): what `problem()` writes, and what the OpenAPI document shows."""

    type: str
    title: str
    status: int
    detail: str
    errors: list[ProblemFieldError] | msgspec.UnsetType = msgspec.UNSET


# What each error status means on this API, for the OpenAPI document.
PROBLEM_MEANINGS = {
    400: "Malformed request: a wrong type, an unknown field, a value out of range; nothing changed",
    401: "No API key, or one that is unknown, revoked or expired (WWW-Authenticate: Bearer)",
    403: "The API key lacks this route's scope",
    404: "No such resource, or one that belongs to another client",
    409: "Conflicts with the current state (a duplicate, stock reserved, an order past cancelling)",
    412: "If-Match names a version other than the current one",
    422: "Well formed but refused: it names what does not exist, or reuses an Idempotency-Key",
    503: (
        "The database is unreachable, failing over or not migrated yet, or too busy: retry after"
        " Retry-After seconds (with the same Idempotency-Key for an order)"
    ),
}


def problem_responses(*statuses: int) -> dict[int, ResponseSpec]:
    """The OpenAPI answers of these error statuses: problem details, in their media type."""
    return {
        status: ResponseSpec(
            data_container=Problem,
            description=PROBLEM_MEANINGS[status],
            media_type=PROBLEM_JSON,
            generate_examples=False,
        )
        for status in sorted(statuses)
    }


def problem(
    status: int,
    title: str,
    detail: str,
    slug: str,
    errors: list[ProblemFieldError] | None = None,
    headers: dict[str, str] | None = None,
) -> Response[Problem]:
    body = Problem(
        type=TYPE_BASE + slug,
        title=title,
        status=status,
        detail=detail,
        errors=errors or msgspec.UNSET,
    )
    return Response(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def handle_invorder_error(_: Request[Any, Any, Any], exc: InvorderError) -> Response[Problem]:
    return problem(
        exc.status,
        exc.title,
        exc.detail,
        exc.slug,
        [ProblemFieldError(e.field, e.message) for e in exc.errors],
        headers=exc.response_headers or None,
    )


def _validation_errors(exc: ValidationException) -> list[ProblemFieldError]:
    found: list[ProblemFieldError] = []
    for item in exc.extra if isinstance(exc.extra, list) else []:
        if isinstance(item, dict):
            message = str(item.get("message", ""))
            key = str(item.get("key") or _field_from_message(message) or "body")
            found.append(ProblemFieldError(key, message))
    return found


def _field_from_message(message: str) -> str | None:
    # msgspec says "... - at `$.items[0].quantity`"
    marker = "at `$."
    if marker in message:
        return message.split(marker, 1)[1].rstrip("`")
    return None


def handle_http_exception(_: Request[Any, Any, Any], exc: HTTPException) -> Response[Problem]:
    status = exc.status_code
    if isinstance(exc, ValidationException):
        errors = _validation_errors(exc)
        detail = "; ".join(e.message for e in errors) or exc.detail
        return problem(status, "Invalid request", detail, "invalid-request", errors)
    title = exc.detail if status < 500 else "Internal error"
    slug = title.lower().replace(" ", "-")
    return problem(status, title, exc.detail, slug, headers=exc.headers)


def handle_database_error(request: Request[Any, Any, Any], exc: psycopg.Error) -> Response[Problem]:
    """A database failure that a later try may not meet is a 503 with Retry-After (the
    database away, the pool exhausted, a lock or statement timeout); anything else is a bug."""
    unavailable = unavailable_from(exc)
    if unavailable is None:
        return handle_unexpected(request, exc)
    log.warning("503 on %s %s: %s", request.method, request.url.path, str(exc).strip() or type(exc).__name__)
    return handle_invorder_error(request, unavailable)


def handle_unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[Problem]:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return problem(
        HTTP_500_INTERNAL_SERVER_ERROR,
        "Internal error",
        "the server failed to handle this request; it has been logged",
        "internal",
    )


EXCEPTION_HANDLERS: dict[type[Exception], Any] = {
    InvorderError: handle_invorder_error,
    HTTPException: handle_http_exception,
    psycopg.Error: handle_database_error,
    Exception: handle_unexpected,
}
