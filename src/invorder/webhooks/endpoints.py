"""Webhook endpoints: subscribing a URL to event types, reading, changing and deleting the
subscription, rotating its signing secret, and the record of deliveries to it."""

from __future__ import annotations

import base64
import secrets
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import msgspec
from psycopg_pool import AsyncConnectionPool

from invorder import db
from invorder.db.queries import Query, queries
from invorder.errors import FieldError, InvalidInput, NotFound
from invorder.events import ALL_EVENTS, EVENT_TYPES
from invorder.webhooks.ssrf import Resolver, check_endpoint_url

Q = queries()

SECRET_PREFIX = "whsec_"
_SECRET_BYTES = 32  # Standard Webhooks asks for 24 to 64
KEEP_PREVIOUS_SECRET_S = 24 * 3600  # deliveries are signed with the old secret too for this long
MAX_DESCRIPTION = 500  # the webhook_endpoints_description_check constraint


class EndpointRow(msgspec.Struct, frozen=True):
    """An endpoint as lists and answers show it: never its secret."""

    id: int
    client_id: int
    client: str
    all_clients: bool  # made with an `ops` key: every client's order events
    url: str
    events: list[str]
    description: str | None
    enabled: bool
    disabled_reason: str | None
    created_by: str | None
    created_at: datetime
    updated_at: datetime


class EndpointWithSecret(EndpointRow, frozen=True):
    """An endpoint just made or given a new secret: the only answers that hold `secret`."""

    secret: str


class EndpointChanges(msgspec.Struct, frozen=True, kw_only=True):
    """Fields to change; UNSET leaves a field as it is (None clears the description)."""

    url: str | msgspec.UnsetType = msgspec.UNSET
    events: list[str] | msgspec.UnsetType = msgspec.UNSET
    enabled: bool | msgspec.UnsetType = msgspec.UNSET
    description: str | msgspec.UnsetType | None = msgspec.UNSET


class DeliveryRow(msgspec.Struct, frozen=True):
    """One delivery attempt: `status_code` is None when no answer came."""

    id: int
    event_id: int
    attempt: int
    status_code: int | None
    error: str | None
    latency_ms: int | None
    created_at: datetime


def new_secret() -> str:
    """A signing secret: `whsec_` and the standard base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(_SECRET_BYTES)).decode()


def check_events(events: Iterable[str]) -> list[str]:
    """The event types, each once and in the canonical order, or exactly ["*"]; an unknown type
    is a 422 that names it."""
    asked = list(dict.fromkeys(events))
    if asked == [ALL_EVENTS]:
        return asked
    if not asked:
        detail = 'an endpoint subscribes to at least one event type (or to every one: ["*"])'
    elif ALL_EVENTS in asked:
        detail = '"*" subscribes to every event type: give it alone'
    else:
        unknown = [e for e in asked if e not in EVENT_TYPES]
        if not unknown:
            return [e for e in EVENT_TYPES if e in asked]
        detail = f"unknown event type: {', '.join(unknown)}"
    raise InvalidInput(detail, [FieldError("events", f"{detail}; one or more of: {', '.join(EVENT_TYPES)}, or *")])


def _check_description(description: str | None) -> str | None:
    if description is not None and len(description) > MAX_DESCRIPTION:
        detail = f"a description is at most {MAX_DESCRIPTION} characters"
        raise InvalidInput(detail, [FieldError("description", detail)])
    return description


def endpoint_not_found(endpoint_id: int) -> NotFound:
    return NotFound(f"webhook endpoint {endpoint_id} does not exist")


async def create_endpoint(
    pool: AsyncConnectionPool[db.Conn],
    *,
    client_id: int,
    all_clients: bool,
    url: str,
    events: Iterable[str],
    description: str | None,
    created_by: str,
    allow_private: bool,
    resolver: Resolver | None = None,
) -> EndpointWithSecret:
    """A new, enabled endpoint of `client_id`, with its secret (shown in this answer only). The
    URL is checked by the SSRF guard (its name resolved) before a connection is taken."""
    subscribed = check_events(events)
    _check_description(description)
    await check_endpoint_url(url, allow_private=allow_private, resolver=resolver)
    secret = new_secret()
    async with db.transaction(pool) as conn:
        row = await db.one(
            conn,
            Q.insert_webhook_endpoint,
            EndpointRow,
            client_id=client_id,
            all_clients=all_clients,
            url=url,
            events=subscribed,
            description=description,
            secret=secret,
            created_by=created_by,
        )
    assert row is not None
    return EndpointWithSecret(**msgspec.structs.asdict(row), secret=secret)


async def client_id_named(pool: AsyncConnectionPool[db.Conn], name: str) -> int:
    """The id of the client called `name`; 404 when there is none."""
    async with db.transaction(pool) as conn:
        found = await db.scalar(conn, Q.get_webhook_client_id, name=name)
    if found is None:
        raise NotFound(f"no client is named {name!r}", [FieldError("client", "no such client")])
    return int(found)


async def list_endpoints(
    pool: AsyncConnectionPool[db.Conn], *, viewer: int | None, after_id: int, limit: int
) -> list[EndpointRow]:
    """The endpoints `viewer` may see, in id order, after `after_id`."""
    async with db.transaction(pool) as conn:
        return await db.many(conn, Q.list_webhook_endpoints, EndpointRow, viewer=viewer, after_id=after_id, limit=limit)


async def _one_endpoint(
    pool: AsyncConnectionPool[db.Conn], query: Query, endpoint_id: int, viewer: int | None, **params: Any
) -> EndpointRow:
    """`query` run in its own transaction on the endpoint `viewer` may reach: its row, or a 404
    when there is none (another client's endpoint is not found either, as for orders).

    `viewer` is the client id of the asking key, or None for a key with `ops`, which reaches every
    endpoint. An endpoint made with `ops` (`all_clients`) is reached only by `ops`, never by the
    other keys of its client."""
    async with db.transaction(pool) as conn:
        row = await db.one(conn, query, EndpointRow, id=endpoint_id, viewer=viewer, **params)
    if row is None:
        raise endpoint_not_found(endpoint_id)
    return row


async def get_endpoint(pool: AsyncConnectionPool[db.Conn], endpoint_id: int, *, viewer: int | None) -> EndpointRow:
    return await _one_endpoint(pool, Q.get_webhook_endpoint, endpoint_id, viewer)


async def update_endpoint(
    pool: AsyncConnectionPool[db.Conn],
    endpoint_id: int,
    changes: EndpointChanges,
    *,
    viewer: int | None,
    actor: str,
    allow_private: bool,
    resolver: Resolver | None = None,
) -> EndpointRow:
    """Apply `changes`. Enabling clears `disabled_reason`; disabling an enabled endpoint records
    that `actor` did it. A new URL is checked as when an endpoint is made, once the endpoint is
    known to be the viewer's (no name is looked up for an endpoint it cannot see)."""
    events = check_events(changes.events) if isinstance(changes.events, list) else None
    description = changes.description
    if isinstance(description, str):
        _check_description(description)
    url = changes.url if isinstance(changes.url, str) else None
    if url is not None:
        await get_endpoint(pool, endpoint_id, viewer=viewer)
        await check_endpoint_url(url, allow_private=allow_private, resolver=resolver)
    return await _one_endpoint(
        pool,
        Q.update_webhook_endpoint,
        endpoint_id,
        viewer,
        url=url,
        events=events,
        set_description=description is not msgspec.UNSET,
        description=None if description is msgspec.UNSET else description,
        enabled=None if changes.enabled is msgspec.UNSET else changes.enabled,
        disabled_reason=f"disabled by {actor}",
    )


async def delete_endpoint(pool: AsyncConnectionPool[db.Conn], endpoint_id: int, *, viewer: int | None) -> EndpointRow:
    """Deletes an endpoint and its delivery records."""
    return await _one_endpoint(pool, Q.delete_webhook_endpoint, endpoint_id, viewer)


async def rotate_secret(
    pool: AsyncConnectionPool[db.Conn], endpoint_id: int, *, viewer: int | None
) -> EndpointWithSecret:
    """A new secret (shown in this answer only); the old one signs deliveries too for 24 hours."""
    secret = new_secret()
    row = await _one_endpoint(
        pool,
        Q.rotate_webhook_endpoint_secret,
        endpoint_id,
        viewer,
        secret=secret,
        keep_previous_s=KEEP_PREVIOUS_SECRET_S,
    )
    return EndpointWithSecret(**msgspec.structs.asdict(row), secret=secret)


async def list_deliveries(
    pool: AsyncConnectionPool[db.Conn], endpoint_id: int, *, viewer: int | None, after_id: int, limit: int
) -> list[DeliveryRow]:
    """The delivery attempts of an endpoint `viewer` may see, newest first: `after_id` 0 starts
    at the newest attempt, another id gives the attempts older than it (the last id of the
    previous page, which `next_cursor` hands out). 404 for an endpoint `viewer` may not see."""
    async with db.transaction(pool) as conn:
        if await db.one(conn, Q.get_webhook_endpoint, EndpointRow, id=endpoint_id, viewer=viewer) is None:
            raise endpoint_not_found(endpoint_id)
        return await db.many(
            conn, Q.list_webhook_deliveries, DeliveryRow, endpoint_id=endpoint_id, after_id=after_id, limit=limit
        )
