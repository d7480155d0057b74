"""`invorder dev` as a newcomer runs it: embedded Postgres, migrations, API, workers and the
payment simulator in one process tree; SIGTERM stops it all; a restart keeps the data."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.support.processes import free_port, wait_until


def start_dev(data_dir: Path, port: int, payments_port: int, log: Path) -> subprocess.Popen[bytes]:
    unset = ("DATABASE_URL", "INVORDER_DATA_DIR", "INVORDER_ADMIN_TOKEN")
    env = {k: v for k, v in os.environ.items() if k not in unset}
    with log.open("ab") as out:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "invorder",
                "dev",
                "--port",
                str(port),
                "--data-dir",
                str(data_dir),
                "--payments-port",
                str(payments_port),
                "--workers",
                "1",
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def printed_key(log: Path) -> str:
    """The API key `invorder dev` printed last."""
    found = re.findall(r"API key +(\S+)", log.read_text())
    assert found, log.read_text()
    return str(found[-1])


def ready(url: str) -> bool:
    try:
        return httpx.get(url + "/readyz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def no_process_uses(data_dir: Path) -> bool:
    found = subprocess.run(["pgrep", "-f", str(data_dir)], capture_output=True, text=True).stdout.split()
    return not [pid for pid in found if int(pid) != os.getpid()]


def test_dev_serves_processes_orders_stops_on_sigterm_and_keeps_its_data(tmp_path: Path) -> None:
    data_dir, log = tmp_path / "data", tmp_path / "dev.log"
    port, payments_port = free_port(), free_port()
    url = f"http://127.0.0.1:{port}"
    dev = start_dev(data_dir, port, payments_port, log)
    try:
        wait_until(lambda: ready(url), timeout=90, what="invorder dev to be ready")
        printed = log.read_text()
        assert f"{url}/api/v1" in printed and f"{url}/schema" in printed and str(payments_port) in printed
        key = printed_key(log)
        with httpx.Client(headers={"Authorization": f"Bearer {key}"}, base_url=url + "/api/v1", timeout=30) as http:
            pid = http.post("/products", json={"name": "Kept", "price_cents": 300}).json()["data"]["id"]
            http.post("/inventory", json={"product_id": pid, "on_hand": 3})
            order_id = http.post("/orders", json={"product_id": pid, "quantity": 1}).json()["data"]["id"]
            assert http.get(f"/orders/{order_id}", params={"wait": 20}).json()["status"] == "processed"
            # The key dev generated and printed opens every route; none or another does not.
            assert httpx.get(f"{url}/api/v1/ops/stats", timeout=10).status_code == 401
            assert http.get("/ops/stats", headers={"Authorization": "Bearer wrong"}).status_code == 401
            stats = http.get("/ops/stats")
            assert stats.status_code == 200
            assert [w["alive"] for w in stats.json()["workers"]] == [True]
            pipeline = {o["status"]: (o["in_flight"], o["finished_last_hour"]) for o in stats.json()["orders"]}
            assert pipeline["processed"] == (0, 1) and pipeline["pending"] == (0, 0)
        started = time.monotonic()
        dev.send_signal(signal.SIGTERM)
        assert dev.wait(40) == 0, log.read_text()[-3000:]
        assert time.monotonic() - started < 40
        wait_until(lambda: no_process_uses(data_dir), timeout=20, what="every child and the database to stop")
    finally:
        if dev.poll() is None:
            dev.kill()
    dev = start_dev(data_dir, port, payments_port, log)
    try:
        wait_until(lambda: ready(url), timeout=90, what="invorder dev to start again")
        again = {"Authorization": f"Bearer {printed_key(log)}"}  # a new one: INVORDER_ADMIN_TOKEN is unset
        product = httpx.get(f"{url}/api/v1/products/{pid}", headers=again, timeout=10).json()
        assert product["name"] == "Kept"
        assert httpx.get(f"{url}/api/v1/inventory/{pid}", headers=again, timeout=10).json()["on_hand"] == 2
    finally:
        dev.send_signal(signal.SIGTERM)
        dev.wait(40)
