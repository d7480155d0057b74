"""`invorder events list|redeliver`: the event feed and redelivery from the command line (what
`GET /events` and `POST /events/{id}/redeliver` do, with every client's events)."""

from __future__ import annotations

import click
from rich.table import Table

from invorder.cli.common import echo_json, json_option, rich_console, run_with_pool, when
from invorder.events import EVENT_TYPES
from invorder.events import feed as event_feed


@click.group("events")
def events_group() -> None:
    """The event outbox: read the feed, send an event to its endpoints again."""


@events_group.command("list")
@click.option("--after", default=None, help="A cursor printed by an earlier run (default: the start).")
@click.option("--type", "event_type", type=click.Choice(EVENT_TYPES), default=None, help="Only events of this type.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 500))
@json_option
def list_events(after: str | None, event_type: str | None, limit: int, as_json: bool) -> None:
    """Events in commit order, every client's; the last line is the cursor to continue from."""
    rows, cursor = run_with_pool(
        lambda pool: event_feed.list_events(pool, after=after, limit=limit, event_type=event_type, client_id=None)
    )
    if as_json:
        echo_json({"data": rows, "next_cursor": cursor})
        return
    table = Table(title="Events", title_justify="left")
    for column in ("id", "type", "subject", "created"):
        table.add_column(column)
    for r in rows:
        subject = r.data.get("id", r.data.get("product_id", ""))
        table.add_row(str(r.id), r.type, str(subject), when(r.created_at))
    console = rich_console()
    console.print(table)
    console.print(f"next cursor: {cursor}")


@events_group.command("redeliver")
@click.argument("event_id", type=int)
@json_option
def redeliver(event_id: int, as_json: bool) -> None:
    """Send one event again (same webhook-id) to every enabled endpoint subscribed to it."""
    endpoints = run_with_pool(lambda pool: event_feed.redeliver(pool, event_id, client_id=None))
    if as_json:
        echo_json({"event_id": event_id, "endpoint_ids": endpoints})
        return
    click.echo(f"event {event_id} queued for redelivery to {len(endpoints)} endpoint(s): {endpoints}")
