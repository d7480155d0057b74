"""`invorder webhooks list|create|update|delete|rotate-secret|deliveries`: what `/api/v1/webhook-endpoints` does,
for operators with database access (every client's endpoints; changes recorded with the CLI's actor)."""

from __future__ import annotations

from typing import Any

import click
import msgspec

from invorder.cli.common import (
    actor_option,
    actor_or_default,
    echo_json,
    echo_table,
    json_option,
    run_with_pool,
    when,
)
from invorder.events import ALL_EVENTS, EVENT_TYPES
from invorder.settings import load_settings
from invorder.webhooks import endpoints as webhooks

ALL_CLIENTS = None  # the viewer that sees every client's endpoints

event_option = click.option(
    "--event",
    "events",
    multiple=True,
    type=click.Choice([*EVENT_TYPES, ALL_EVENTS]),
    help='An event type to deliver (repeat for several), or "*" for every type.',
)


def _allow_private() -> bool:
    return load_settings().webhook_allow_private


@click.group("webhooks")
def webhooks_group() -> None:
    """Webhook endpoints: create (the secret is shown once), list, update, delete, rotate-secret, deliveries."""


@webhooks_group.command("list")
@json_option
def list_command(as_json: bool) -> None:
    """Every endpoint of every client, by id (never a secret)."""
    found = run_with_pool(lambda pool: webhooks.list_endpoints(pool, viewer=ALL_CLIENTS, after_id=0, limit=10_000))
    echo_table(
        found,
        as_json,
        ("id", "client", "url", "events", "enabled", "disabled because", "created"),
        lambda e: (
            str(e.id),
            e.client + (" (all clients)" if e.all_clients else ""),
            e.url,
            " ".join(e.events),
            "yes" if e.enabled else "no",
            e.disabled_reason or "",
            when(e.created_at),
        ),
    )


@webhooks_group.command("create")
@click.option("--client", required=True, help="The client (account) the endpoint belongs to; it must exist.")
@click.option("--url", required=True, help="Where to POST the events (http or https, a public address).")
@event_option
@click.option("--all-clients", is_flag=True, help="Deliver every client's order events, not only the client's own.")
@click.option("--description", default=None, help="What the endpoint is for (at most 500 characters).")
@actor_option
@json_option
def create(
    client: str,
    url: str,
    events: tuple[str, ...],
    all_clients: bool,
    description: str | None,
    actor: str | None,
    as_json: bool,
) -> None:
    """Subscribe URL to events for CLIENT. The signing secret is printed once."""
    if not events:
        raise click.UsageError("give at least one --event (or --event '*')")
    allow_private = _allow_private()

    async def make(pool: Any) -> webhooks.EndpointWithSecret:
        client_id = await webhooks.client_id_named(pool, client)
        return await webhooks.create_endpoint(
            pool,
            client_id=client_id,
            all_clients=all_clients,
            url=url,
            events=events,
            description=description,
            created_by=actor_or_default(actor),
            allow_private=allow_private,
        )

    made = run_with_pool(make)
    _echo_with_secret(
        made, f"endpoint {made.id} for client {made.client}: {made.url} ({' '.join(made.events)})", as_json
    )


@webhooks_group.command("update")
@click.argument("endpoint_id", type=click.IntRange(1))
@click.option("--url", default=None, help="A new URL.")
@event_option
@click.option("--enable/--disable", "enabled", default=None, help="Resume or stop deliveries.")
@click.option("--description", default=None, help="A new description.")
@actor_option
@json_option
def update(
    endpoint_id: int,
    url: str | None,
    events: tuple[str, ...],
    enabled: bool | None,
    description: str | None,
    actor: str | None,
    as_json: bool,
) -> None:
    """Change endpoint ENDPOINT_ID (--event replaces the whole list; --enable clears why it was disabled)."""
    changes = webhooks.EndpointChanges(
        url=msgspec.UNSET if url is None else url,
        events=list(events) if events else msgspec.UNSET,
        enabled=msgspec.UNSET if enabled is None else enabled,
        description=msgspec.UNSET if description is None else description,
    )
    allow_private = _allow_private()
    row = run_with_pool(
        lambda pool: webhooks.update_endpoint(
            pool, endpoint_id, changes, viewer=ALL_CLIENTS, actor=actor_or_default(actor), allow_private=allow_private
        )
    )
    if as_json:
        echo_json(row)
        return
    state = "enabled" if row.enabled else f"disabled ({row.disabled_reason or 'no reason given'})"
    click.echo(f"endpoint {row.id}: {row.url} ({' '.join(row.events)}), {state}")


@webhooks_group.command("delete")
@click.argument("endpoint_id", type=click.IntRange(1))
def delete(endpoint_id: int) -> None:
    """Delete endpoint ENDPOINT_ID and the record of its deliveries."""
    row = run_with_pool(lambda pool: webhooks.delete_endpoint(pool, endpoint_id, viewer=ALL_CLIENTS))
    click.echo(f"endpoint {row.id} ({row.url}, client {row.client}) deleted")


@webhooks_group.command("rotate-secret")
@click.argument("endpoint_id", type=click.IntRange(1))
@json_option
def rotate_secret(endpoint_id: int, as_json: bool) -> None:
    """Give endpoint ENDPOINT_ID a new secret (printed once); the old one signs too for 24 hours."""
    row = run_with_pool(lambda pool: webhooks.rotate_secret(pool, endpoint_id, viewer=ALL_CLIENTS))
    _echo_with_secret(row, f"endpoint {row.id}: new secret (the previous one is also used for 24 hours)", as_json)


def _echo_with_secret(row: webhooks.EndpointWithSecret, summary: str, as_json: bool) -> None:
    """An endpoint whose secret is shown only this once (made, or given a new secret): `summary`,
    the secret on a line of its own, and a reminder on stderr."""
    if as_json:
        echo_json(row)
        return
    click.echo(summary)
    click.echo(row.secret)
    click.echo("Store the secret now: it is not shown again.", err=True)


@webhooks_group.command("deliveries")
@click.argument("endpoint_id", type=click.IntRange(1))
@click.option("--limit", type=click.IntRange(1, 10_000), default=50, show_default=True)
@json_option
def deliveries(endpoint_id: int, limit: int, as_json: bool) -> None:
    """The latest delivery attempts to endpoint ENDPOINT_ID, newest first."""
    found = run_with_pool(
        lambda pool: webhooks.list_deliveries(pool, endpoint_id, viewer=ALL_CLIENTS, after_id=0, limit=limit)
    )
    echo_table(
        found,
        as_json,
        ("id", "event", "attempt", "status", "error", "latency ms", "when"),
        lambda d: (
            str(d.id),
            str(d.event_id),
            str(d.attempt),
            "" if d.status_code is None else str(d.status_code),
            d.error or "",
            "" if d.latency_ms is None else str(d.latency_ms),
            when(d.created_at),
        ),
    )
