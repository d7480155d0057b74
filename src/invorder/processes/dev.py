"""`invorder dev`: migrations, then the API, workers and payment simulator as one process tree."""

from __future__ import annotations

import logging
import os
import secrets
import signal
import subprocess
import sys
import time
from types import FrameType

from invorder.db.migrate import migrate_up
from invorder.settings import Settings

log = logging.getLogger(__name__)
STOP_TIMEOUT_S = 20.0


def run_dev(settings: Settings, database_url: str, *, workers: int, payments_port: int, reload: bool) -> int:
    """Migrate, then run the API, `workers` worker processes and the payment simulator as child
    processes until Ctrl-C or SIGTERM; stop them all and return the exit status."""
    print(migrate_up(database_url), end="", file=sys.stderr)
    payments_url = f"http://127.0.0.1:{payments_port}"
    # The ops API needs a token: a fresh one per run unless one is set.
    admin_token = settings.admin_token or secrets.token_urlsafe(24)
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "INVORDER_PAYMENTS_URL": payments_url,
        "INVORDER_DATA_DIR": settings.data_dir,
        "INVORDER_ADMIN_TOKEN": admin_token,
    }
    me = [sys.executable, "-m", "invorder"]
    commands: list[tuple[str, list[str]]] = [
        (
            "api",
            [
                *me,
                "serve",
                "--host",
                settings.host,
                "--port",
                str(settings.port),
                *(["--reload"] if reload else []),
            ],
        ),
    ]
    sim_data = os.path.join(settings.data_dir, "payments-sim.sqlite3")
    sim = [*me, "payments-sim", "--port", str(payments_port), "--control", "--data-file", sim_data]
    commands.append(("payments-sim", sim))
    # INVORDER_METRICS_PORT is a base here: worker n serves its metrics on base + n - 1 (one port
    # each; they could not share it).
    env.pop("INVORDER_METRICS_PORT", None)
    metrics_ports = [settings.metrics_port + n for n in range(workers)] if settings.metrics_port else []
    commands += [
        (f"worker-{n}", [*me, "worker", *(["--metrics-port", str(metrics_ports[n - 1])] if metrics_ports else [])])
        for n in range(1, workers + 1)
    ]
    children: list[tuple[str, subprocess.Popen[bytes]]] = []
    for name, command in commands:
        children.append((name, subprocess.Popen(command, env=env)))

    base = f"http://{settings.host}:{settings.port}"
    print(
        f"\ninvorder dev is running (Ctrl-C stops everything)\n"
        f"  API              {base}/api/v1\n"
        f"  OpenAPI docs     {base}/schema  (Swagger UI: {base}/schema/swagger)\n"
        f"  Payment sim      {payments_url}  (faults: GET/PUT {payments_url}/_sim/config)\n"
        f"  Dashboard        {base}/dashboard\n"
        f"  Metrics          {base}/metrics"
        f"{''.join(f'  worker: http://{settings.host}:{p}/metrics' for p in metrics_ports)}\n"
        f"  Ops API          {base}/api/v1/ops/stats\n"
        f"  API key          {admin_token}  (Authorization: Bearer ...; every scope)"
        f"{'' if settings.admin_token else ' generated for this run: set INVORDER_ADMIN_TOKEN to keep one'}\n"
        f"  Database         {database_url}\n"
        f"  Data kept in     {os.path.abspath(settings.data_dir)}\n",
        file=sys.stderr,
        flush=True,
    )

    stopping = False

    def request_stop(signum: int, _: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    status = 0
    while not stopping:
        for name, child in children:
            code = child.poll()
            if code is not None:
                log.error("%s exited with status %s; stopping everything", name, code)
                stopping, status = True, code or 1
        time.sleep(0.2)
    _stop_children(children)
    return status


def _stop_children(children: list[tuple[str, subprocess.Popen[bytes]]]) -> None:
    for _, child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT_S
    for name, child in children:
        try:
            child.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            log.warning("%s did not stop within %.0fs; killing it", name, STOP_TIMEOUT_S)
            child.kill()
            child.wait()
