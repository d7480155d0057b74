"""The commands that run a process: dev, serve, worker, payments-sim."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from invorder.cli.common import database_url, setup


@click.command()
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
    from invorder.processes.dev import run_dev

    settings = setup(host=host, port=port, data_dir=data_dir)
    with database_url(settings) as url:
        sys.exit(run_dev(settings, url, workers=workers, payments_port=payments_port, reload=reload))


@click.command()
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
    from invorder.processes.serve import serve_api

    settings = setup(host=host, port=port)
    with database_url(settings) as url:
        serve_api(settings, url, processes=processes, reload=reload)


@click.command()
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
    from invorder.processes.worker import run_invorder_worker, run_with_fast_loop

    settings = setup(worker_concurrency=concurrency, metrics_port=metrics_port)
    with database_url(settings) as url:
        run_with_fast_loop(run_invorder_worker(settings, url, drain=drain))


@click.command("payments-sim")
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
@click.option(
    "--refund-failure-rate",
    type=click.FloatRange(0, 1),
    default=0.0,
    show_default=True,
    help="Share of refunds the provider refuses (failed).",
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
    refund_failure_rate: float,
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
        refund_failure_rate=refund_failure_rate,
        seed=seed,
    )
    path = Path(data_file) if data_file else Path(settings.data_dir) / "payments-sim.sqlite3"
    path.parent.mkdir(parents=True, exist_ok=True)
    serve_simulator(host=host, port=port, config=config, data_file=path, control=control)


COMMANDS = (dev, serve, worker, payments_sim)
