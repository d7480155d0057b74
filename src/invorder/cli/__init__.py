"""The `invorder` command: the root group, assembled from one module per command group."""

from __future__ import annotations

import click

from invorder.cli import events, inventory, jobs, keys, migrate, processes, reconcile, webhooks


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="invorder")
def main() -> None:
    """invorder: inventory and orders with a job queue in PostgreSQL.

    Settings come from environment variables (see README), a .env file, and flags."""


for command in (
    *processes.COMMANDS,
    reconcile.reconcile_command,
    inventory.inventory,
    jobs.jobs,
    keys.keys_group,
    events.events_group,
    webhooks.webhooks_group,
    migrate.migrate,
):
    main.add_command(command)
