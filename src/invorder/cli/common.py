"""What every `invorder` command shares: settings, the database, a pool runner, output, the actor."""

from __future__ import annotations

import asyncio
import getpass
import socket
import sys
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import click
import msgspec
from rich.console import Console
from rich.table import Table

from invorder.db import connect_options, open_pool
from invorder.errors import InvorderError
from invorder.logs import configure_logging
from invorder.settings import Settings, load_settings

EMBEDDED_DATABASE = "invorder"
T = TypeVar("T")

json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text or tables.")
# Every command that changes something records who did it: --actor, or the operator's user@host.
actor_option = click.option("--actor", default=None, help="Who is acting, for the records it leaves [user@host].")


def actor_or_default(actor: str | None) -> str:
    return actor or f"{getpass.getuser()}@{socket.gethostname()}"


def setup(**overrides: Any) -> Settings:
    """Every command starts here: settings read once (flags given as `overrides`), logging set."""
    settings = load_settings(**overrides)
    configure_logging(settings.log_level)
    return settings


@contextmanager
def database_url(settings: Settings) -> Iterator[str]:
    """`DATABASE_URL` when set; otherwise the embedded server in the data dir, started for
    as long as the block runs (and left running if another invorder process uses it)."""
    if settings.database_url:
        yield settings.database_url
        return
    from invorder.db.embedded import start_embedded

    server = start_embedded(Path(settings.data_dir) / "pgdata")
    try:
        yield server.url(EMBEDDED_DATABASE)
    finally:
        server.stop()


def run_with_pool(
    fn: Callable[[Any], Awaitable[T]],
    *,
    settings: Settings | None = None,
    name: str = "invorder-jobs-cli",
    max_size: int = 2,
) -> T:
    """Run `fn(pool)` against the configured database with a small pool of its own; domain
    errors end the command with a message and exit code 2 (bad input) or 1 (anything else).
    `name` is the pool's, which PostgreSQL shows as the sessions' application_name."""
    settings = settings or setup()

    async def go(url: str) -> T:
        pool = open_pool(url, options=connect_options(settings), min_size=1, max_size=max_size, name=name)
        await pool.open(wait=True, timeout=30)
        try:
            return await fn(pool)
        finally:
            await pool.close()

    with database_url(settings) as url:
        try:
            return asyncio.run(go(url))
        except InvorderError as exc:
            click.echo(f"error: {exc.detail}", err=True)
            raise SystemExit(2 if exc.status in (400, 422) else 1) from None


def rich_console() -> Console:
    # Piped output keeps whole lines (no wrapping at 80 columns) and no colour codes.
    return Console(width=None if sys.stdout.isatty() else 200, highlight=False)


def echo_json(value: Any) -> None:
    click.echo(msgspec.json.format(msgspec.json.encode(value), indent=2).decode())


def echo_table(rows: Sequence[T], as_json: bool, columns: Sequence[str], cells: Callable[[T], Sequence[str]]) -> None:
    """A listing: `rows` as JSON with --json, else a table of `columns` with `cells(row)` a line."""
    if as_json:
        echo_json(rows)
        return
    table = Table(*columns)
    for row in rows:
        table.add_row(*cells(row))
    rich_console().print(table)


def when(value: datetime | None) -> str:
    return value.astimezone().strftime("%Y-%m-%d %H:%M:%S") if value else ""
