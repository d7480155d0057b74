"""The event feed: events in the order their transactions can no longer be overtaken (a cursor
of transaction id and event id), redelivery of one event, and the job that bounds the tables."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

import msgspec

from invorder import db
from invorder.db.queries import queries
from invorder.errors import BadRequest, FieldError, NotFound
from invorder.events import DELIVER_WEBHOOK
from invorder.queue import Complete, Job, JobContext, Outcome, Registry, notify_workers, periodic
from invorder.settings import Settings

log = logging.getLogger(__name__)
Q = queries()

# A cursor is "<seq>-<id>": the commit sequence number of the transaction of the last event
# served, and that event's id. The OpenAPI document gives the pattern; clients should pass
# back `next_cursor` and nothing else.
FEED_CURSOR_PATTERN = r"^[0-9]{1,19}-[0-9]{1,19}$"
_START = (0, 0)
_PAST_EVERY_ID = 2**63 - 1

PRUNE_EVENTS = "prune_events"  # the job kind that deletes events and delivery records past retention
PRUNE_PRIORITY = 200  # after order processing (lower runs first)
PRUNE_BATCH = 10_000  # rows one statement deletes: short transactions, vacuum keeps up


class EventRow(msgspec.Struct, frozen=True):
    id: int
    type: str
    data: dict[str, Any]
    created_at: datetime


class _FeedRow(msgspec.Struct, frozen=True):
    """A row of list_events: an event (all None on an empty page) and the last commit seq."""

    id: int | None
    seq: int | None
    type: str | None
    data: dict[str, Any] | None
    created_at: datetime | None
    last_seq: int


def decode_feed_cursor(cursor: str | None) -> tuple[int, int]:
    """(seq, id) after which the feed continues; the start of the feed without a cursor."""
    if not cursor:
        return _START
    seq, _, event_id = cursor.partition("-")
    if not (seq.isascii() and seq.isdigit() and event_id.isascii() and event_id.isdigit()):
        message = "cursor is not one this API handed out"
        raise BadRequest(message, [FieldError("after", message)])
    if int(seq) >= 2**63 or int(event_id) >= 2**63:
        message = "cursor is out of range"
        raise BadRequest(message, [FieldError("after", message)])
    return int(seq), int(event_id)


def encode_feed_cursor(seq: int, event_id: int) -> str:
    return f"{seq}-{event_id}"


async def list_events(
    pool: Any, *, after: str | None, limit: int, event_type: str | None, client_id: int | None
) -> tuple[list[EventRow], str]:
    """A page of the feed, in commit order, and the cursor to pass back for the next one. A
    short page has reached the end of what has committed: its cursor is that point (every
    transaction up to the last commit seq), so a reader polling with a filter does not scan
    the same events again. The feed never ends; a reader polls it."""
    after_seq, after_id = decode_feed_cursor(after)
    async with db.single_statement(pool) as conn:
        rows = await db.many(
            conn,
            Q.list_events,
            _FeedRow,
            after_seq=after_seq,
            after_id=after_id,
            type=event_type,
            client_id=client_id,
            limit=limit,
        )
    events = [
        EventRow(r.id, r.type, r.data, r.created_at)
        for r in rows
        if r.id is not None and r.type is not None and r.data is not None and r.created_at is not None
    ]
    last = rows[-1]
    if len(events) == limit and last.seq is not None and last.id is not None:
        position = (last.seq, last.id)
    else:  # everything committed up to last_seq has been seen
        position = max((after_seq, after_id), (last.last_seq, _PAST_EVERY_ID))
    return events, encode_feed_cursor(*position)


async def get_event(pool: Any, event_id: int, *, client_id: int | None) -> EventRow:
    async with db.single_statement(pool) as conn:
        row = await db.one(conn, Q.get_event, EventRow, id=event_id, client_id=client_id)
    if row is None:
        raise NotFound(f"event {event_id} does not exist")
    return row


class _Redelivered(msgspec.Struct, frozen=True):
    endpoint_id: int


async def redeliver(pool: Any, event_id: int, *, client_id: int | None) -> list[int]:
    """Send one event again to every enabled endpoint subscribed to it (only the client's own
    endpoints unless `client_id` is None): the endpoints a new delivery job was added for. The
    deliveries carry the event's id as `webhook-id`, as the first ones did."""
    async with db.transaction(pool) as conn:
        if await db.one(conn, Q.get_event, EventRow, id=event_id, client_id=client_id) is None:
            raise NotFound(f"event {event_id} does not exist")
        added = await db.many(conn, Q.redeliver_event, _Redelivered, id=event_id, client_id=client_id)
        if added:
            await notify_workers(conn, DELIVER_WEBHOOK)
    return [r.endpoint_id for r in added]


async def prune(pool: Any, retention_s: float) -> tuple[int, int]:
    """Delete one batch of events and one of delivery records past the retention, and vacuum
    the two tables when that deleted anything; how many were deleted."""
    async with db.single_statement(pool) as conn:
        events = await db.execute(conn, Q.prune_events, retention_s=retention_s, limit=PRUNE_BATCH)
    async with db.single_statement(pool) as conn:
        await db.execute(conn, Q.prune_event_commits, retention_s=retention_s, limit=PRUNE_BATCH)
    async with db.single_statement(pool) as conn:
        deliveries = await db.execute(conn, Q.prune_webhook_deliveries, retention_s=retention_s, limit=PRUNE_BATCH)
        if events or deliveries:
            await db.execute(conn, Q.vacuum_events)
    return events, deliveries


class PruneEventsJob:
    """The periodic `prune_events` job: deletes what is past INVORDER_EVENT_RETENTION_S in
    batches, then schedules the next run INVORDER_EVENT_PRUNE_INTERVAL_S later (at once after a
    full batch)."""

    def __init__(self, settings: Settings) -> None:
        self.retention_s = settings.event_retention_s
        self.interval_s = settings.event_prune_interval_s

    async def __call__(self, job: Job, ctx: JobContext) -> Outcome:
        events, deliveries = await prune(ctx.pool, self.retention_s)
        if events or deliveries:
            log.info("pruned %d events and %d delivery records past retention", events, deliveries)
        async with db.transaction(ctx.pool) as conn:
            await periodic.schedule_next(
                conn,
                PRUNE_EVENTS,
                interval_s=self.interval_s,
                at_once=max(events, deliveries) >= PRUNE_BATCH,
                after_job=job.id,
                priority=PRUNE_PRIORITY,
            )
        return Complete()


async def seed_prune_job(pool: Any, settings: Settings) -> None:
    """At worker start-up: the first `prune_events` job unless one exists (or pruning is off)."""
    await periodic.seed(pool, PRUNE_EVENTS, interval_s=settings.event_prune_interval_s, priority=PRUNE_PRIORITY)


def register_event_handlers(registry: Registry, settings: Settings) -> None:
    registry.register(PRUNE_EVENTS, PruneEventsJob(settings))
