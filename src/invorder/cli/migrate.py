"""`invorder migrate up|status|new`: schema migrations with dbmate."""

from __future__ import annotations

import subprocess
from typing import Any

import click

from invorder.cli.common import database_url, setup


@click.group()
def migrate() -> None:
    """Schema migrations (dbmate, files in sql/migrations)."""


@migrate.command("up")
def migrate_up_command() -> None:
    """Create the database if needed and apply every pending migration."""
    from invorder.db.migrate import migrate_up

    settings = setup()
    with database_url(settings) as url:
        # With a pooler in front, the direct session: the migration lock is a session's.
        direct = settings.listen_database_url or url
        _run_dbmate_step(lambda: migrate_up(direct))


@migrate.command("status")
def migrate_status_command() -> None:
    """List applied and pending migrations."""
    from invorder.db.migrate import migration_status, writable_server_url

    settings = setup()
    with database_url(settings) as url:
        direct = settings.listen_database_url or url
        _run_dbmate_step(lambda: migration_status(writable_server_url(direct)))


@migrate.command("new")
@click.argument("name")
def migrate_new_command(name: str) -> None:
    """Create a new, empty migration file named NAME."""
    from invorder.db.migrate import new_migration

    _run_dbmate_step(lambda: new_migration(name))


def _run_dbmate_step(step: Any) -> None:
    try:
        click.echo(step(), nl=False)
    except subprocess.CalledProcessError as exc:
        click.echo((exc.stdout or "") + (exc.stderr or ""), err=True, nl=False)
        raise SystemExit(exc.returncode) from None
