"""The `invorder` command: each subcommand parses its flags and calls one function."""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from invorder.logs import configure_logging
from invorder.settings import Settings, load_settings

log = logging.getLogger("invorder.cli")
EMBEDDED_DATABASE = "invorder"


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
    from invorder.embedded import start_embedded

    server = start_embedded(Path(settings.data_dir) / "pgdata")
    try:
        yield server.url(EMBEDDED_DATABASE)
    finally:
        server.stop()


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="invorder")
def main() -> None:
    """invorder: inventory and orders with a job queue in PostgreSQL.

    Settings come from environment variables (see README), a .env file, and flags."""


@main.command()
@click.option("--host", default=None, help="Address to bind [INVORDER_HOST, 127.0.0.1].")
@click.option("--port", type=int, default=None, help="API port [INVORDER_PORT, 8000].")
@click.option(
    "--data-dir",
    default=None,
    help="Where the embedded Postgres keeps its data [INVORDER_DATA_DIR, .invorder].",
)
@click.option("--workers", type=click.IntRange(0, 64), default=2, show_default=True, help="Worker processes.")
@click.option(
    "--payments-port",
    type=int,
    default=8100,
    show_default=True,
    help="Port of the payment simulator.",
)
@click.option("--reload", is_flag=True, help="Restart the API when the code changes.")
def dev(
    host: str | None,
    port: int | None,
    data_dir: str | None,
    workers: int,
    payments_port: int,
    reload: bool,
) -> None:
    """Everything in one process tree: embedded Postgres, migrations, API, workers, payment simulator."""
    from invorder.devserver import run_dev

    settings = setup(host=host, port=port, data_dir=data_dir)
    with database_url(settings) as url:
        sys.exit(run_dev(settings, url, workers=workers, payments_port=payments_port, reload=reload))


@main.command()
@click.option("--host", default=None, help="Address to bind [INVORDER_HOST, 127.0.0.1].")
@click.option("--port", type=int, default=None, help="Port [INVORDER_PORT, 8000].")
@click.option(
    "--processes",
    type=click.IntRange(1, 64),
    default=1,
    show_default=True,
    help="API processes (granian workers).",
)
@click.option("--reload", is_flag=True, help="Restart when the code changes.")
def serve(host: str | None, port: int | None, processes: int, reload: bool) -> None:
    """Serve the HTTP API (granian)."""
    from invorder.devserver import serve_api

    settings = setup(host=host, port=port)
    with database_url(settings) as url:
        serve_api(settings, url, processes=processes, reload=reload)


@main.command()
@click.option(
    "--concurrency",
    type=click.IntRange(1, 10_000),
    default=None,
    help="Jobs in hand at once [INVORDER_WORKER_CONCURRENCY, 100].",
)
@click.option("--drain", is_flag=True, help="Exit once no job is ready (for benchmarks and scripts).")
@click.option(
    "--metrics-port",
    type=click.IntRange(1, 65535),
    default=None,
    help="Serve this worker's Prometheus metrics on http://INVORDER_HOST:PORT/metrics [INVORDER_METRICS_PORT].",
)
def worker(concurrency: int | None, drain: bool, metrics_port: int | None) -> None:
    """Process background jobs (any number of these may run against one database)."""
    from invorder.workers import run_invorder_worker, run_with_fast_loop

    settings = setup(worker_concurrency=concurrency, metrics_port=metrics_port)
    with database_url(settings) as url:
        run_with_fast_loop(run_invorder_worker(settings, url, drain=drain))


@main.command("payments-sim")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", type=int, default=8100, show_default=True, help="Port.")
@click.option(
    "--latency-ms", type=click.IntRange(0, 120_000), default=0, show_default=True, help="Delay before answering."
)
@click.option(
    "--decline-rate", type=click.FloatRange(0, 1), default=0.0, show_default=True, help="Share of charges declined."
)
@click.option(
    "--error-rate", type=click.FloatRange(0, 1), default=0.0, show_default=True, help="Share answered 503, not charged."
)
@click.option(
    "--timeout-rate", type=click.FloatRange(0, 1), default=0.0, show_default=True, help="Share that hang, not charged."
)
@click.option(
    "--lost-response-rate",
    type=click.FloatRange(0, 1),
    default=0.0,
    show_default=True,
    help="Share charged but answered 502 (the answer is lost).",
)
@click.option("--seed", type=int, default=None, help="Seed of the dice, for repeatable runs.")
@click.option("--control", is_flag=True, help="Enable GET/PUT /_sim/config to change the faults at run time.")
@click.option(
    "--data-file",
    default=None,
    help="SQLite file of the charges (survives restarts) [INVORDER_DATA_DIR/payments-sim.sqlite3].",
)
def payments_sim(
    host: str,
    port: int,
    latency_ms: int,
    decline_rate: float,
    error_rate: float,
    timeout_rate: float,
    lost_response_rate: float,
    seed: int | None,
    control: bool,
    data_file: str | None,
) -> None:
    """The payment provider simulator (an external service stand-in)."""
    from invorder.payments.simulator import SimulatorConfig, serve_simulator

    settings = setup()
    config = SimulatorConfig(
        latency_ms=latency_ms,
        decline_rate=decline_rate,
        error_rate=error_rate,
        timeout_rate=timeout_rate,
        lost_response_rate=lost_response_rate,
        seed=seed,
    )
    path = Path(data_file) if data_file else Path(settings.data_dir) / "payments-sim.sqlite3"
    path.parent.mkdir(parents=True, exist_ok=True)
    serve_simulator(host=host, port=port, config=config, data_file=path, control=control)


@main.command()
@click.option(
    "--repair/--no-repair",
    default=False,
    show_default=True,
    help="Fix what is safe to fix (a drifted reserved figure); everything else is only reported.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def reconcile(repair: bool, as_json: bool) -> None:
    """Check stock, orders and the payment provider's charges against SPEC.md's invariants 1-5.

    Exit code 0 when no drift remains, 1 when some does."""
    import asyncio

    from invorder.reconcile import render_json, render_text, run_reconcile

    settings = setup()
    with database_url(settings) as url:
        report = asyncio.run(run_reconcile(settings, url, repair=repair))
    click.echo(render_json(report) if as_json else render_text(report))
    sys.exit(report.exit_code)


@main.group()
def inventory() -> None:
    """Stock levels in bulk."""


@inventory.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def inventory_import(file: Path) -> None:
    """Set on_hand from a warehouse feed FILE (CSV with header `sku,on_hand`, absolute levels).

    Good lines are applied, bad ones rejected with a reason. Exit code 0 when every line was
    applied, 2 when some were rejected."""
    import asyncio

    from invorder.catalog.inventory import on_restock
    from invorder.catalog.stock_import import render_text, run_stock_import
    from invorder.db import connect_options
    from invorder.orders.placement import wake_orders_waiting_for

    settings = setup()
    on_restock(wake_orders_waiting_for)  # restocked products wake the orders waiting for them, as in the API
    with database_url(settings) as url:
        report = asyncio.run(run_stock_import(url, file, connect_options(settings)))
    click.echo(render_text(report))
    sys.exit(report.exit_code)


def _add_jobs_group() -> None:
    from invorder.events_cli import events_group
    from invorder.jobs_cli import jobs
    from invorder.keys_cli import keys_group
    from invorder.webhooks_cli import webhooks_group

    main.add_command(jobs)
    main.add_command(keys_group)
    main.add_command(events_group)
    main.add_command(webhooks_group)


_add_jobs_group()


@main.group()
def migrate() -> None:
    """Schema migrations (dbmate, files in sql/migrations)."""


@migrate.command("up")
def migrate_up_command() -> None:
    """Create the database if needed and apply every pending migration."""
    from invorder.migrate import migrate_up

    settings = setup()
    with database_url(settings) as url:
        # With a pooler in front, the direct session: the migration lock is a session's.
        direct = settings.listen_database_url or url
        _run_dbmate_step(lambda: migrate_up(direct))


@migrate.command("status")
def migrate_status_command() -> None:
    """List applied and pending migrations."""
    from invorder.migrate import migration_status, writable_server_url

    settings = setup()
    with database_url(settings) as url:
        direct = settings.listen_database_url or url
        _run_dbmate_step(lambda: migration_status(writable_server_url(direct)))


@migrate.command("new")
@click.argument("name")
def migrate_new_command(name: str) -> None:
    """Create a new, empty migration file named NAME."""
    from invorder.migrate import new_migration

    _run_dbmate_step(lambda: new_migration(name))


def _run_dbmate_step(step: Any) -> None:
    try:
        click.echo(step(), nl=False)
    except subprocess.CalledProcessError as exc:
        click.echo((exc.stdout or "") + (exc.stderr or ""), err=True, nl=False)
        raise SystemExit(exc.returncode) from None


if __name__ == "__main__":
    main()
