"""Webhook deliveries: the `deliver_webhook` batch handler, which signs each event per Standard
Webhooks, posts it to its endpoint (every delivery of a batch in flight at once), records every
attempt, and retries with backoff for the retry window; a 410 or the window's end disables the
endpoint."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import httpx
import msgspec
from psycopg.types.json import Jsonb
from standardwebhooks.webhooks import Webhook

from invorder import db
from invorder.events import DELIVER_WEBHOOK
from invorder.events.ssrf import UnsafeWebhookURL, resolve_delivery_target
from invorder.metrics import WEBHOOK_DELIVERIES
from invorder.queue import Complete, Job, JobContext, Outcome, Registry, Snooze, backoff_s
from invorder.settings import Settings
from invorder.sql import queries

log = logging.getLogger(__name__)
Q = queries()
MOST_DELIVERIES_PER_BATCH = 100
_RESPONSE_BYTES_READ = 64 * 1024  # of an answer's body, at most: only its status matters
USER_AGENT = "invorder-webhooks/1"


@dataclass(frozen=True)
class DeliveryPolicy:
    connect_timeout_s: float
    read_timeout_s: float
    retry_base_s: float
    retry_max_s: float
    window_s: float
    allow_private: bool
    max_in_flight: int

    @classmethod
    def from_settings(cls, settings: Settings) -> DeliveryPolicy:
        return cls(
            settings.webhook_connect_timeout_s,
            settings.webhook_read_timeout_s,
            settings.webhook_retry_base_s,
            settings.webhook_retry_max_s,
            settings.webhook_retry_window_s,
            settings.webhook_allow_private,
            settings.webhook_max_in_flight,
        )


class _ToDeliver(msgspec.Struct, frozen=True):
    place: int
    event_id: int | None
    type: str | None
    data: dict[str, Any] | None
    event_created_at: datetime | None
    endpoint_id: int | None
    url: str | None
    enabled: bool | None
    secret: str | None
    previous_secret: str | None
    attempts_before: int
    attempts_of_job: int


class _Attempt(msgspec.Struct, frozen=True):
    endpoint_id: int
    event_id: int
    attempt: int
    status_code: int | None
    error: str | None
    latency_ms: int | None


class _Disable(msgspec.Struct, frozen=True):
    id: int
    reason: str


@dataclass(frozen=True)
class _Answer:
    status_code: int | None
    error: str | None
    latency_ms: int | None

    @property
    def delivered(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def api_timestamp(moment: datetime) -> str:
    """A timestamp as the API writes it (msgspec's RFC 3339 form)."""
    return msgspec.json.encode(moment.astimezone(UTC)).decode()[1:-1]


def delivery_body(event_type: str, created_at: datetime, data: dict[str, Any]) -> bytes:
    """The JSON body of a delivery: `{"type", "timestamp", "data"}`."""
    return msgspec.json.encode({"type": event_type, "timestamp": api_timestamp(created_at), "data": data})


@lru_cache(maxsize=1024)
def _signer(secret: str) -> Webhook:
    return Webhook(secret)


def signature_header(event_id: int, moment: datetime, body: bytes, secrets: Sequence[str]) -> str:
    """`webhook-signature`: a `v1,` signature per live secret (the new one first after a
    rotation, and the previous one during its 24 hours), separated by spaces."""
    text = body.decode()
    return " ".join(_signer(s).sign(str(event_id), moment, text) for s in secrets)


class WebhookDeliverer:
    """The `deliver_webhook` batch handler. One job is one event for one endpoint."""

    def __init__(self, policy: DeliveryPolicy) -> None:
        self.policy = policy
        self._client: httpx.AsyncClient | None = None
        self._in_flight = asyncio.Semaphore(policy.max_in_flight)

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None:  # made on first use, inside the worker's event loop
            self._client = httpx.AsyncClient(
                timeout=httpx.Timeout(
                    self.policy.read_timeout_s, connect=self.policy.connect_timeout_s, pool=self.policy.read_timeout_s
                ),
                limits=httpx.Limits(max_connections=self.policy.max_in_flight, max_keepalive_connections=32),
                follow_redirects=False,  # a redirect could lead past the address check
                trust_env=False,  # no proxy from the environment: the address checked is the one connected to
                headers={"user-agent": USER_AGENT},
            )
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()

    async def __call__(self, jobs: Sequence[Job], ctx: JobContext) -> list[Outcome]:
        pairs = [
            {
                "place": place,
                "event_id": int(job.payload["event_id"]),
                "endpoint_id": int(job.payload["endpoint_id"]),
                "since": api_timestamp(job.created_at),
            }
            for place, job in enumerate(jobs)
        ]
        async with db.single_statement(ctx.pool) as conn:
            rows = await db.many(conn, Q.get_deliveries_to_make, _ToDeliver, pairs=Jsonb(pairs))
        outcomes: list[Outcome] = [Complete()] * len(jobs)  # event pruned, endpoint gone or disabled
        sendable = [r for r in rows if r.event_id is not None and r.endpoint_id is not None and r.enabled]
        answers = await asyncio.gather(*(self._send(r) for r in sendable))
        attempts: list[_Attempt] = []
        disable: list[_Disable] = []
        now = datetime.now(UTC)
        for row, answer in zip(sendable, answers, strict=True):
            assert row.endpoint_id is not None and row.event_id is not None
            error = answer.error
            if answer.delivered:
                WEBHOOK_DELIVERIES.labels("delivered").inc()
            elif answer.status_code == 410:
                WEBHOOK_DELIVERIES.labels("gone").inc()
                disable.append(_Disable(row.endpoint_id, "the endpoint answered 410 Gone"))
            elif (now - jobs[row.place].created_at).total_seconds() >= self.policy.window_s:
                WEBHOOK_DELIVERIES.labels("given_up").inc()
                error = f"{error}; given up after the retry window ({self.policy.window_s:g}s)"
                disable.append(
                    _Disable(
                        row.endpoint_id,
                        f"deliveries failed for longer than the retry window ({self.policy.window_s:g}s);"
                        f" last error: {answer.error}",
                    )
                )
            else:
                WEBHOOK_DELIVERIES.labels("failed").inc()
                delay = backoff_s(
                    row.attempts_of_job + 1, base_s=self.policy.retry_base_s, max_s=self.policy.retry_max_s
                )
                outcomes[row.place] = Snooze(delay, error or "not delivered")
            attempts.append(
                _Attempt(
                    row.endpoint_id, row.event_id, row.attempts_before + 1, answer.status_code, error, answer.latency_ms
                )
            )
        if attempts:
            async with db.transaction(ctx.pool) as conn:
                await db.execute(conn, Q.record_deliveries, deliveries=Jsonb(attempts))
                if disable:
                    await db.execute(conn, Q.disable_endpoints, endpoints=Jsonb(disable))
            for d in disable:
                log.warning("webhook endpoint %d disabled: %s", d.id, d.reason, extra={"endpoint_id": d.id})
        return outcomes

    async def _send(self, row: _ToDeliver) -> _Answer:
        assert row.url is not None and row.secret is not None and row.type is not None
        assert row.event_id is not None and row.event_created_at is not None and row.data is not None
        started = time.perf_counter()
        try:
            addresses = await resolve_delivery_target(row.url, allow_private=self.policy.allow_private)
        except UnsafeWebhookURL as exc:
            WEBHOOK_DELIVERIES.labels("refused").inc()
            return _Answer(None, f"refused: {exc}", None)
        url = httpx.URL(row.url)
        body = delivery_body(row.type, row.event_created_at, row.data)
        moment = datetime.now(UTC)  # webhook-timestamp: the time of this attempt
        secrets = [row.secret] if row.previous_secret is None else [row.secret, row.previous_secret]
        headers = {
            "content-type": "application/json",
            "webhook-id": str(row.event_id),
            "webhook-timestamp": str(int(moment.timestamp())),
            "webhook-signature": signature_header(row.event_id, moment, body, secrets),
            "host": url.netloc.decode("ascii"),
        }
        # Connect to the address that was checked, not to whatever the name resolves to next
        # (DNS rebinding); TLS still checks the certificate against the name.
        pinned = url.copy_with(host=addresses[0])
        extensions = {"sni_hostname": url.host} if url.scheme == "https" else {}
        try:
            async with (
                self._in_flight,
                self.client.stream("POST", pinned, content=body, headers=headers, extensions=extensions) as response,
            ):
                read = 0
                async for chunk in response.aiter_raw():
                    read += len(chunk)
                    if read >= _RESPONSE_BYTES_READ:
                        break
                status = response.status_code
        except httpx.TimeoutException as exc:
            return _Answer(None, f"no answer in time ({type(exc).__name__})", _ms_since(started))
        except httpx.HTTPError as exc:
            return _Answer(None, f"{type(exc).__name__}: {exc}"[:500], _ms_since(started))
        error = None if 200 <= status < 300 else f"answered {status}"
        return _Answer(status, error, _ms_since(started))


def _ms_since(started: float) -> int:
    return round((time.perf_counter() - started) * 1000)


def register_delivery_handler(registry: Registry, settings: Settings) -> WebhookDeliverer:
    deliverer = WebhookDeliverer(DeliveryPolicy.from_settings(settings))
    registry.register_batch(DELIVER_WEBHOOK, deliverer, max_batch=MOST_DELIVERIES_PER_BATCH)
    return deliverer
