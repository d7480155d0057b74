"""`invorder keys create|list|revoke`: API keys from the command line (what the ops API's
`/ops/keys` does, for operators with database access)."""

from __future__ import annotations

import click

from invorder.access import keys
from invorder.cli.common import (
    actor_option,
    actor_or_default,
    echo_json,
    echo_table,
    json_option,
    run_with_pool,
    when,
)
from invorder.durations import parse_duration
from invorder.errors import InvorderError


@click.group("keys")
def keys_group() -> None:
    """API keys: create (the key is shown once), list, revoke."""


@keys_group.command("create")
@click.option("--client", required=True, help="The client (account) the key belongs to; made when new.")
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    required=True,
    type=click.Choice(keys.SCOPES),
    help="A scope the key carries (repeat for several).",
)
@click.option("--expires-in", default=None, help="Lifetime, e.g. 90d, 12h, 3600s (default: no expiry).")
@actor_option
@json_option
def create(client: str, scopes: tuple[str, ...], expires_in: str | None, actor: str | None, as_json: bool) -> None:
    """Create a key for CLIENT. The key is printed once: it is stored only as a hash."""
    try:
        expires_in_s = parse_duration(expires_in) if expires_in else None
    except InvorderError as exc:
        raise click.BadParameter(exc.detail, param_hint="--expires-in") from None
    made = run_with_pool(
        lambda pool: keys.create_key(
            pool, client=client, scopes=scopes, expires_in_s=expires_in_s, created_by=actor_or_default(actor)
        )
    )
    if as_json:
        echo_json(made)
        return
    click.echo(f"key {made.id} for client {made.client}, scopes {' '.join(made.scopes)}")
    click.echo(f"expires {when(made.expires_at) or 'never'}")
    click.echo(made.key)
    click.echo("Store it now: it is not shown again.", err=True)


@keys_group.command("list")
@json_option
def list_command(as_json: bool) -> None:
    """Every key, newest first (prefixes only: keys are never shown again)."""
    found = run_with_pool(lambda pool: keys.list_keys(pool, limit=10_000))
    echo_table(
        found,
        as_json,
        ("id", "client", "prefix", "scopes", "created", "expires", "revoked", "last used"),
        lambda k: (
            str(k.id),
            k.client,
            k.prefix,
            " ".join(k.scopes),
            when(k.created_at),
            when(k.expires_at),
            when(k.revoked_at),
            when(k.last_used_at),
        ),
    )


@keys_group.command("revoke")
@click.argument("key_id", type=click.IntRange(1))
def revoke(key_id: int) -> None:
    """Revoke key KEY_ID: refused by every API process within INVORDER_API_KEY_CACHE_S."""
    row = run_with_pool(lambda pool: keys.revoke_key(pool, key_id))
    click.echo(f"key {row.id} ({row.prefix}..., client {row.client}) revoked at {when(row.revoked_at)}")
