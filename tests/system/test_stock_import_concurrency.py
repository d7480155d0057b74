"""Stock imports of the same skus while orders flow through a real API, real workers and the
payment simulator: no import ever sets on_hand below what is reserved, and stock ends exact."""

from __future__ import annotations

import asyncio
import random
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from invorder import db
from invorder.catalog.stock_import import ImportReport, import_stock
from invorder.orders.waking import wake_orders_waiting_for
from tests.support.invariants import check_orders_settled, check_payments, check_stock_invariants, simulator_charges
from tests.support.processes import AUTH, LiveProcess, start_api, start_worker, wait_until

SKUS = [f"SYNC-{n}" for n in range(6)]


@pytest.fixture
def system(system_env: dict[str, str], payments_sim: LiveProcess) -> Iterator[LiveProcess]:
    # Charges take a moment, so reservations are held while the imports run.
    faults = {"latency_ms": 30, "decline_rate": 0.0, "error_rate": 0.0, "timeout_rate": 0.0, "lost_response_rate": 0.0}
    httpx.put(payments_sim.url + "/_sim/config", json=faults, timeout=5).raise_for_status()
    api = start_api(system_env)
    workers = [start_worker(system_env, concurrency=16) for _ in range(2)]
    yield api
    for process in [*workers, api]:
        process.stop()


@pytest.mark.slow
def test_imports_racing_orders_never_cut_below_reserved_and_stock_ends_exact(
    system: LiveProcess, payments_sim: LiveProcess, database_url: str, sql: Any, tmp_path: Path
) -> None:
    rng = random.Random(11)
    with httpx.Client(headers=AUTH, base_url=system.url, timeout=10) as http:
        products = []
        for n, sku in enumerate(SKUS):
            body = {"name": f"sync {n}", "sku": sku, "price_cents": 100 + n}
            pid = http.post("/api/v1/products", json=body).json()["data"]["id"]
            assert http.post("/api/v1/inventory", json={"product_id": pid, "on_hand": 20}).status_code == 201
            products.append(pid)
    bodies = [
        {"items": [{"product_id": p, "quantity": rng.randint(1, 3)} for p in rng.sample(products, rng.randint(1, 2))]}
        for _ in range(240)
    ]
    reports: list[ImportReport] = []

    async def place_orders() -> list[int]:
        codes = []
        async with httpx.AsyncClient(headers=AUTH, base_url=system.url, timeout=60) as http:
            for start in range(0, len(bodies), 20):
                responses = await asyncio.gather(
                    *[http.post("/api/v1/orders", json=b) for b in bodies[start : start + 20]]
                )
                codes += [r.status_code for r in responses]
                await asyncio.sleep(0.05)
        return codes

    async def import_feeds(pool: Any, placing: asyncio.Task[list[int]]) -> None:
        n = 0
        while not placing.done() or n < 10:
            n += 1
            path = tmp_path / f"feed-{n}.csv"
            path.write_text("sku,on_hand\n" + "".join(f"{sku},{rng.randint(0, 25)}\n" for sku in SKUS))
            reports.append(await import_stock(pool, path, on_restock=wake_orders_waiting_for))

    async def race() -> list[int]:
        pool = db.open_pool(database_url, min_size=1, max_size=2)
        await pool.open(wait=True)
        try:
            placing = asyncio.create_task(place_orders())
            await import_feeds(pool, placing)
            return await placing
        finally:
            await pool.close()

    codes = asyncio.run(race())
    assert codes == [202] * len(bodies)

    def settled() -> bool:
        return bool(
            sql.execute("select count(*) from orders where status in ('pending', 'reserved')").fetchone()[0] == 0
        )

    wait_until(settled, timeout=180, what="every order to reach a final status", interval=0.5)
    wait_until(lambda: sql.execute("select count(*) from jobs").fetchone()[0] == 0, timeout=60, what="an empty queue")

    lines = [line for report in reports for line in report.lines]
    assert len(reports) >= 10 and len(lines) == len(reports) * len(SKUS)
    for line in lines:
        assert line.result in ("applied", "unchanged", "rejected"), line
        assert line.reserved is not None
        if line.result == "rejected":
            match = re.fullmatch(r"on_hand (\d+) is below the (\d+) units reserved for orders", line.detail)
            assert match is not None and int(match[1]) < int(match[2]) == line.reserved, line
        else:
            assert line.on_hand_after is not None and line.on_hand_after >= line.reserved, line
    assert any(line.result == "applied" for line in lines)
    assert any(line.reserved for line in lines), "no import ran while stock was reserved"
    imported = sql.execute("select count(*) from stock_movements where kind = 'import'").fetchone()[0]
    assert imported == sum(line.result == "applied" for line in lines)
    check_stock_invariants(sql)
    check_orders_settled(sql)
    args = payments_sim.popen.args
    assert isinstance(args, list)
    check_payments(sql, simulator_charges(Path(str(args[args.index("--data-file") + 1]))))
    statuses = dict(sql.execute("select status, count(*) from orders group by status").fetchall())
    assert statuses.get("processed", 0) > 0, statuses
