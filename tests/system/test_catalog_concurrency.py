"""Real concurrency against a real `invorder serve` process: no lost update, no duplicate."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from tests.support.processes import AUTH, LiveProcess


async def _gather(requests: list[Any]) -> list[httpx.Response]:
    return list(await asyncio.gather(*requests))


def test_50_concurrent_adjustments_end_exact_with_matching_ledger(live_api: LiveProcess, sql: Any) -> None:
    async def run() -> list[httpx.Response]:
        async with httpx.AsyncClient(headers=AUTH, base_url=live_api.url, timeout=30) as http:
            pid = (await http.post("/api/v1/products", json={"name": "Hot", "price_cents": 1})).json()["data"]["id"]
            await http.post("/api/v1/inventory", json={"product_id": pid, "on_hand": 100})
            deltas = [1, -1] * 25
            return await _gather(
                [
                    http.post(f"/api/v1/inventory/{pid}/adjustments", json={"delta": d, "reason": f"r{i}"})
                    for i, d in enumerate(deltas)
                ]
            )

    responses = asyncio.run(run())
    assert [r.status_code for r in responses] == [201] * 50
    on_hand, ledger, moves, version = sql.execute(
        "select i.on_hand, sum(m.delta), count(m.*), i.version from inventory i"
        " join stock_movements m using (product_id) group by i.on_hand, i.version"
    ).fetchone()
    assert (on_hand, ledger, moves, version) == (100, 100, 51, 51)


def test_20_concurrent_creates_of_one_name_give_one_201_and_19_409(live_api: LiveProcess, sql: Any) -> None:
    async def run() -> list[httpx.Response]:
        async with httpx.AsyncClient(headers=AUTH, base_url=live_api.url, timeout=30) as http:
            return await _gather(
                [
                    http.post(
                        "/api/v1/products",
                        json={"name": f"Same {'NAME' if i % 2 else 'name'}", "price_cents": i},
                    )
                    for i in range(20)
                ]
            )

    codes = sorted(r.status_code for r in asyncio.run(run()))
    assert codes == [201] + [409] * 19
    assert sql.execute("select count(*) from products").fetchone()[0] == 1


def test_concurrent_decrements_never_go_below_zero(live_api: LiveProcess, sql: Any) -> None:
    async def run() -> list[httpx.Response]:
        async with httpx.AsyncClient(headers=AUTH, base_url=live_api.url, timeout=30) as http:
            pid = (await http.post("/api/v1/products", json={"name": "Few", "price_cents": 1})).json()["data"]["id"]
            await http.post("/api/v1/inventory", json={"product_id": pid, "on_hand": 10})
            return await _gather(
                [
                    http.post(f"/api/v1/inventory/{pid}/adjustments", json={"delta": -1, "reason": "sale"})
                    for _ in range(30)
                ]
            )

    codes = [r.status_code for r in asyncio.run(run())]
    assert codes.count(201) == 10 and codes.count(409) == 20
    assert sql.execute("select on_hand from inventory").fetchone()[0] == 0
