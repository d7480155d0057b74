"""Request middleware: logging (method, path, status and duration, with an `X-Request-ID`),
and the deadline that answers every request in bounded time."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from typing import Any

import msgspec
from litestar.datastructures import MutableScopeHeaders
from litestar.enums import ScopeType
from litestar.types import (
    ASGIApp,
    HTTPResponseBodyEvent,
    HTTPResponseStartEvent,
    Message,
    Receive,
    Scope,
    Send,
)

from invorder.logs import log_context
from invorder.web.problems import PROBLEM_JSON, TYPE_BASE, Problem

log = logging.getLogger("invorder.access")


def request_logging_middleware(app: ASGIApp) -> ASGIApp:
    """Echo (or mint) `X-Request-ID` and log one line per request when it ends."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await app(scope, receive, send)
            return
        incoming = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming[:128] if incoming else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableScopeHeaders.from_message(message)["X-Request-ID"] = request_id
            await send(message)

        try:
            with log_context(request_id=request_id):
                await app(scope, receive, send_wrapper)
        finally:
            log.info(
                "%s %s %s %.1fms",
                scope["method"],
                scope["path"],
                status,
                (time.perf_counter() - started) * 1000,
                extra={"request_id": request_id, "status": status, "method": scope["method"]},
            )

    return middleware


# The answer of a request cut off at its deadline (a 503, like every database failure).
_DEADLINE_RETRY_AFTER_S = 2
_DEADLINE_KEY = "invorder.deadline"


def request_deadline_middleware(timeout_s: float) -> Any:
    """Answer 503 (with Retry-After) to a request not answered within `timeout_s`: whatever the
    database does (a commit waiting on a standby that went away, a connection that hangs), no
    client waits longer. The 503 goes out at the deadline; the handler is cancelled then and
    winds down on its own (psycopg's cancellation of a query may itself wait on an unreachable
    server for seconds), whatever it sends after is dropped. A transaction cut off this way has
    an unknown outcome, which the detail says. A handler that waits on purpose
    (`GET /orders/{id}?wait=S`) extends its own deadline with `extend_deadline`; an answer
    already started is let finish."""

    def factory(app: ASGIApp) -> ASGIApp:
        async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != ScopeType.HTTP:
                await app(scope, receive, send)
                return
            deadline = _Deadline(time.monotonic() + timeout_s)
            scope.setdefault("state", {})[_DEADLINE_KEY] = deadline
            started = False

            async def send_wrapper(message: Message) -> None:
                nonlocal started
                if deadline.passed:
                    return  # the client has had its 503
                if message["type"] == "http.response.start":
                    started = True
                await send(message)

            handler = asyncio.ensure_future(app(scope, receive, send_wrapper))
            while not handler.done():
                left = deadline.when - time.monotonic()
                if started or left > 0:
                    try:
                        await asyncio.wait({handler}, timeout=None if started else left)
                    except asyncio.CancelledError:  # the server gave up on this request
                        handler.cancel()
                        raise
                    continue
                deadline.passed = True
                handler.cancel()
                handler.add_done_callback(_retrieve)
                log.warning("%s %s cut off at its deadline (%gs)", scope["method"], scope["path"], timeout_s)
                await _send_deadline_problem(send, timeout_s)
                return
            handler.result()  # its exception, if any, as if it had been awaited

        return middleware

    return factory


class _Deadline:
    """When a request must have been answered (time.monotonic()), and whether it was not."""

    def __init__(self, when: float) -> None:
        self.when = when
        self.passed = False


def _retrieve(task: asyncio.Future[None]) -> None:
    """Collect what a handler cut off at its deadline ended with, so asyncio does not warn."""
    if not task.cancelled() and (exc := task.exception()) is not None:
        log.info("a request cut off at its deadline then failed: %s", exc)


def extend_deadline(scope: Scope, seconds: float) -> None:
    """Give the request in `scope` `seconds` more before its deadline."""
    deadline: _Deadline | None = scope.get("state", {}).get(_DEADLINE_KEY)
    if deadline is not None:
        deadline.when += seconds


async def _send_deadline_problem(send: Send, timeout_s: float) -> None:
    body = msgspec.json.encode(
        Problem(
            type=TYPE_BASE + "unavailable",
            title="Service unavailable",
            status=503,
            detail=(
                f"no answer within {timeout_s:g}s: the database is slow or away. If this request changed"
                " something, its outcome is unknown: send it again with the same Idempotency-Key"
            ),
        )
    )
    start: HTTPResponseStartEvent = {
        "type": "http.response.start",
        "status": 503,
        "headers": [
            (b"content-type", PROBLEM_JSON.encode()),
            (b"content-length", str(len(body)).encode()),
            (b"retry-after", str(_DEADLINE_RETRY_AFTER_S).encode()),
        ],
    }
    end: HTTPResponseBodyEvent = {"type": "http.response.body", "body": body, "more_body": False}
    await send(start)
    await send(end)
