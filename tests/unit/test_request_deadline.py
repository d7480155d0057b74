"""The request deadline: a 503 with Retry-After goes out at the deadline even when the cut-off
handler takes long to wind down (as psycopg's cancellation of a query does against a server
that does not answer), nothing the handler sends afterwards reaches the client, and a wait
asked for extends the deadline."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import msgspec

from invorder.api.middleware import extend_deadline, request_deadline_middleware


def run(app: Any, timeout_s: float) -> tuple[list[dict[str, Any]], float, list[str]]:
    sent: list[dict[str, Any]] = []
    events: list[str] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Any) -> None:
        sent.append(message)

    async def main() -> float:
        middleware = request_deadline_middleware(timeout_s)(app)
        scope = {"type": "http", "method": "GET", "path": "/x", "headers": [], "events": events}
        started = time.monotonic()
        await middleware(scope, receive, send)  # type: ignore[arg-type]
        took = time.monotonic() - started
        await asyncio.sleep(0.6)  # let a cut-off handler finish winding down
        return took

    return sent, asyncio.run(main()), events


async def answer(send: Any, status: int) -> None:
    await send({"type": "http.response.start", "status": status, "headers": []})
    await send({"type": "http.response.body", "body": b"late", "more_body": False})


def test_the_503_goes_out_at_the_deadline_while_the_handler_is_still_winding_down() -> None:
    async def slow_to_cancel(scope: Any, receive: Any, send: Any) -> None:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            scope["events"].append("cancelled")
            await asyncio.sleep(0.4)  # a cancellation that itself waits
            scope["events"].append("wound down")
            await answer(send, 200)  # too late: dropped

    sent, took, events = run(slow_to_cancel, timeout_s=0.2)
    assert 0.15 < took < 0.35, took
    assert events == ["cancelled", "wound down"]
    assert [m["type"] for m in sent] == ["http.response.start", "http.response.body"]
    assert sent[0]["status"] == 503
    assert (b"retry-after", b"2") in sent[0]["headers"]
    body = msgspec.json.decode(sent[1]["body"])
    assert body["status"] == 503 and "unknown" in body["detail"]


def test_an_answer_in_time_passes_through_and_a_wait_extends_the_deadline() -> None:
    async def waits(scope: Any, receive: Any, send: Any) -> None:
        extend_deadline(scope, 0.5)
        await asyncio.sleep(0.4)  # past the deadline of 0.2, within the extension
        await answer(send, 200)

    sent, took, _ = run(waits, timeout_s=0.2)
    assert [m.get("status") for m in sent] == [200, None]
    assert 0.35 < took < 0.6, took


def test_an_error_of_the_handler_is_raised_as_it_would_be_without_the_deadline() -> None:
    async def fails(scope: Any, receive: Any, send: Any) -> None:
        raise RuntimeError("boom")

    try:
        run(fails, timeout_s=1)
    except RuntimeError as exc:
        assert str(exc) == "boom"
    else:
        raise AssertionError("the handler's error was swallowed")
