"""Webhook deliveries: the `deliver_webhook` batch handler, which signs, posts and records each
attempt, and retries or disables the endpoint as docs/events.md ("Guarantees") says."""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import aiohttp
import msgspec
import yarl
from aiohttp.abc import AbstractResolver, ResolveResult
from psycopg.types.json import Jsonb
from standardwebhooks.webhooks import Webhook

from invorder import db
from invorder.db.queries import queries
from invorder.events import DELIVER_WEBHOOK
from invorder.metrics import WEBHOOK_DELIVERIES
from invorder.queue import Complete, Job, JobContext, Outcome, Registry, Snooze, backoff_s
from invorder.settings import Settings
from invorder.webhooks.ssrf import UnsafeWebhookURL, resolve_delivery_target

log = logging.getLogger(__name__)
Q = queries()
MOST_DELIVERIES_PER_BATCH = 100
_RESPONSE_BYTES_READ = 64 * 1024  # of an answer's body, at most: only its status matters
USER_AGENT = "invorder-webhooks/1"
CHECK_TTL_S = 30.0  # how long an endpoint's checked addresses are trusted (as a DNS answer would be)


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
    unless_delivered_within_s: float | None = None  # keep it enabled if a 2xx came within this


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


class _CheckedAddresses(AbstractResolver):
    """aiohttp's resolver for deliveries: a host name resolves only to the addresses the
    address check allowed a moment before (`allow`), never to a fresh DNS answer. A connection
    therefore goes to a checked address (no DNS rebinding between check and connect), while
    the request still names the host (the Host header, and TLS's server name and certificate
    check). IP literals never reach a resolver: the check refuses the bad ones beforehand."""

    def __init__(self) -> None:
        self._allowed: dict[str, list[str]] = {}

    def allow(self, host: str, addresses: list[str]) -> None:
        self._allowed[host] = addresses

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        addresses = self._allowed.get(host)
        if not addresses:
            raise OSError(f"{host} has no checked address")
        return [
            ResolveResult(
                hostname=host,
                host=a,
                port=port,
                family=socket.AF_INET6 if ":" in a else socket.AF_INET,
                proto=0,
                flags=socket.AI_NUMERICHOST,
            )
            for a in addresses
        ]

    async def close(self) -> None:
        pass


class WebhookDeliverer:
    """The `deliver_webhook` batch handler. One job is one event for one endpoint.

    It posts with aiohttp, as the payment client does: httpx's CPU per request grew with the requests
    in flight and dwarfed an order's processing (docs/benchmarks.md, "Why aiohttp and priority 150")."""

    def __init__(self, policy: DeliveryPolicy) -> None:
        self.policy = policy
        self._session: aiohttp.ClientSession | None = None
        self._resolver = _CheckedAddresses()
        # sock_connect, not connect: waiting for one of the `max_in_flight` connections is not
        # the endpoint's fault, and a batch may hold more deliveries than that.
        self._timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=policy.connect_timeout_s, sock_read=policy.read_timeout_s
        )
        self._checked: dict[str, tuple[float, list[str]]] = {}  # url -> (until, allowed addresses)
        # A bound on a whole attempt: a read timeout alone restarts with every byte, so an
        # endpoint trickling its answer could hold a batch for ever.
        self._attempt_s = policy.connect_timeout_s + policy.read_timeout_s
        self._in_flight = asyncio.Semaphore(policy.max_in_flight)

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:  # made on first use, inside the worker's event loop
            self._session = aiohttp.ClientSession(
                timeout=self._timeout,
                connector=aiohttp.TCPConnector(
                    limit=self.policy.max_in_flight,  # deliveries in flight at once, and kept-alive connections
                    resolver=self._resolver,
                    use_dns_cache=False,  # every new connection asks the resolver, which holds only checked addresses
                ),
                headers={"User-Agent": USER_AGENT},
                trust_env=False,  # no proxy from the environment: the address checked is the one connected to
                auto_decompress=False,
            )
        return self._session

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

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
                # This delivery is given up. The endpoint is disabled only if it has been failing
                # for the whole window: one event it keeps refusing does not stop the others.
                WEBHOOK_DELIVERIES.labels("given_up").inc()
                error = f"{error}; given up after the retry window ({self.policy.window_s:g}s)"
                disable.append(
                    _Disable(
                        row.endpoint_id,
                        f"deliveries failed for longer than the retry window ({self.policy.window_s:g}s);"
                        f" last error: {answer.error}",
                        self.policy.window_s,
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

    async def _check(self, url: str) -> list[str]:
        """The addresses `url` may be sent to (UnsafeWebhookURL when none): checked again at most
        every CHECK_TTL_S, so a host name is not looked up for every delivery."""
        now = time.monotonic()
        cached = self._checked.get(url)
        if cached is not None and cached[0] > now:
            return cached[1]
        addresses = await resolve_delivery_target(url, allow_private=self.policy.allow_private)
        if len(self._checked) > 10_000:
            self._checked.clear()
        self._checked[url] = (now + CHECK_TTL_S, addresses)
        return addresses

    async def _send(self, row: _ToDeliver) -> _Answer:
        assert row.url is not None and row.secret is not None and row.type is not None
        assert row.event_id is not None and row.event_created_at is not None and row.data is not None
        try:
            addresses = await self._check(row.url)
        except UnsafeWebhookURL as exc:
            WEBHOOK_DELIVERIES.labels("refused").inc()
            return _Answer(None, f"refused: {exc}", None)
        url = yarl.URL(row.url)
        if url.host is not None:
            self._resolver.allow(url.host, addresses)
        body = delivery_body(row.type, row.event_created_at, row.data)
        moment = datetime.now(UTC)  # webhook-timestamp: the time of this attempt
        secrets = [row.secret] if row.previous_secret is None else [row.secret, row.previous_secret]
        headers = {
            "Content-Type": "application/json",
            "webhook-id": str(row.event_id),
            "webhook-timestamp": str(int(moment.timestamp())),
            "webhook-signature": signature_header(row.event_id, moment, body, secrets),
        }
        try:
            async with self._in_flight, asyncio.timeout(self._attempt_s):
                started = time.perf_counter()  # the attempt, not its wait for a free slot
                async with self.session.post(url, data=body, headers=headers, allow_redirects=False) as response:
                    await response.content.read(_RESPONSE_BYTES_READ)  # only the status matters
                    status = response.status
        except (TimeoutError, aiohttp.ServerTimeoutError, aiohttp.ConnectionTimeoutError) as exc:
            return _Answer(None, f"no answer in time ({type(exc).__name__})", _ms_since(started))
        except (aiohttp.ClientError, OSError) as exc:
            return _Answer(None, f"{type(exc).__name__}: {exc}"[:500], _ms_since(started))
        error = None if 200 <= status < 300 else f"answered {status}"
        return _Answer(status, error, _ms_since(started))


def _ms_since(started: float) -> int:
    return round((time.perf_counter() - started) * 1000)


def register_delivery_handler(registry: Registry, settings: Settings) -> WebhookDeliverer:
    deliverer = WebhookDeliverer(DeliveryPolicy.from_settings(settings))
    registry.register_batch(DELIVER_WEBHOOK, deliverer, max_batch=MOST_DELIVERIES_PER_BATCH)
    return deliverer
