"""The Redis cache under real outages, against real API processes: Redis SIGKILLed mid-traffic,
restarted, then hung (SIGSTOP); or never there. No request fails, every read sees the writes
made before it, whichever API process served either."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import TEST_ENV
from tests.support.processes import AUTH, LiveProcess, free_port, start_api
from tests.support.redis_server import RedisServer

P = "/api/v1/products"
C = "/api/v1/categories"
# Seconds from the start of the traffic at which Redis is killed, started again (empty), hung, resumed.
KILL, RESTART, HANG, RESUME, END = 1.5, 3.0, 4.5, 6.0, 7.5


@dataclass
class Tally:
    failures: list[str] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    by_phase: dict[str, int] = field(default_factory=dict)


def phase(elapsed: float) -> str:
    for name, until in (("up", KILL), ("killed", RESTART), ("restarted", HANG), ("hung", RESUME)):
        if elapsed < until:
            return name
    return "resumed"


def api_env(database_url: str, redis_url: str) -> dict[str, str]:
    return {
        **TEST_ENV,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "INVORDER_CACHE_BREAKER_OPEN_S": "0.3",
    }


async def traffic(urls: list[str], redis: RedisServer, tally: Tally) -> None:
    started = time.monotonic()
    clients = [httpx.AsyncClient(headers=AUTH, base_url=url, timeout=10) for url in urls]

    async def call(n: int, method: str, path: str, expected: int, **kwargs: Any) -> httpx.Response:
        t0 = time.monotonic()
        response = await clients[n % len(clients)].request(method, path, **kwargs)
        tally.latencies.append(time.monotonic() - t0)
        name = phase(t0 - started)
        tally.by_phase[name] = tally.by_phase.get(name, 0) + 1
        if response.status_code != expected:
            tally.failures.append(f"{name}: {method} {path} -> {response.status_code} {response.text[:200]}")
        return response

    def check(ok: bool, what: str) -> None:
        if not ok:
            tally.failures.append(f"{phase(time.monotonic() - started)}: {what}")

    try:
        category = (await call(0, "POST", C, 201, json={"name": "Outage"})).json()["data"]
        owned = [
            (await call(0, "POST", P, 201, json={"name": f"Owned {i}", "price_cents": 0})).json()["data"]["id"]
            for i in range(6)
        ]

        async def writer(pid: int) -> None:
            n = 0
            while time.monotonic() - started < END:
                n += 1
                # Write through one process, read through the other: the write shows at once.
                await call(n, "PATCH", f"{P}/{pid}", 200, json={"price_cents": n})
                got = await call(n + 1, "GET", f"{P}/{pid}", 200)
                if got.status_code == 200:
                    body = got.json()
                    check(
                        (body["id"], body["price_cents"], got.headers.get("etag")) == (pid, n, f'"{n + 1}"'),
                        f"product {pid} after write {n}: {body} etag {got.headers.get('etag')}",
                    )
                listed = await call(n, "GET", P, 200, params={"limit": 50})
                if listed.status_code == 200:
                    mine = [p for p in listed.json()["data"] if p["id"] == pid]
                    check(len(mine) == 1 and mine[0]["price_cents"] == n, f"list after write {n} of {pid}: {mine}")
                if n % 4 == 0:
                    wanted = [] if n % 8 else [category["id"]]
                    await call(n, "PUT", f"{P}/{pid}/categories", 200, json={"category_ids": wanted})
                    got = await call(n + 1, "GET", f"{P}/{pid}", 200)
                    if got.status_code == 200:
                        ids = [c["id"] for c in got.json()["categories"]]
                        check(ids == wanted, f"categories of {pid} after put {wanted}: {ids}")

        async def renamer() -> None:
            n = 0
            while time.monotonic() - started < END:
                n += 1
                name = f"Outage {n}"
                await call(n, "PATCH", f"{C}/{category['id']}", 200, json={"name": name})
                got = await call(n + 1, "GET", f"{C}/{category['id']}", 200)
                check(got.status_code != 200 or got.json()["name"] == name, f"category after rename {n}")
                await asyncio.sleep(0.2)

        async def reader(k: int) -> None:
            n = k
            while time.monotonic() - started < END:
                n += 1
                pid = owned[n % len(owned)]
                got = await call(n, "GET", f"{P}/{pid}", 200)
                check(got.status_code != 200 or got.json()["id"] == pid, f"GET {pid} answered another product")

        async def outage() -> None:
            for at, action in ((KILL, redis.kill), (RESTART, redis.start), (HANG, redis.pause), (RESUME, redis.resume)):
                await asyncio.sleep(max(0.0, at - (time.monotonic() - started)))
                await asyncio.to_thread(action)

        await asyncio.gather(*(writer(pid) for pid in owned), renamer(), reader(0), reader(1), outage())
    finally:
        for client in clients:
            await client.aclose()


def test_redis_killed_restarted_and_hung_mid_traffic_costs_no_request_and_no_stale_read(
    database_url: str, redis_server: RedisServer
) -> None:
    env = api_env(database_url, redis_server.url)
    apis: list[LiveProcess] = []
    try:
        apis = [start_api(env), start_api(env)]
        tally = Tally()
        asyncio.run(traffic([a.url for a in apis], redis_server, tally))
        assert tally.failures == [], tally.failures[:20]
        assert set(tally.by_phase) == {"up", "killed", "restarted", "hung", "resumed"}, tally.by_phase
        assert all(count >= 20 for count in tally.by_phase.values()), tally.by_phase
        worst = max(tally.latencies)
        assert worst < 3, f"slowest request {worst:.2f}s"
        # The cache is back in use after the outages.
        with redis_server.client() as probe:
            assert probe.dbsize() > 0
        for api in apis:
            # One warning per outage and process (the kill, the hang), never one per request.
            assert api.log().count("Redis failed") == 2, api.log()[-3000:]
    finally:
        for api in apis:
            api.stop()


def test_redis_url_at_a_closed_port_serves_everything_from_the_database(database_url: str, tmp_path: Path) -> None:
    api = start_api(api_env(database_url, f"redis://127.0.0.1:{free_port()}/0"))
    try:
        with httpx.Client(headers=AUTH, base_url=api.url, timeout=10) as http:
            pid = http.post(P, json={"name": "Uncached", "price_cents": 1}).json()["data"]["id"]
            for n in range(2, 12):
                t0 = time.monotonic()
                assert http.patch(f"{P}/{pid}", json={"price_cents": n}).status_code == 200
                got = http.get(f"{P}/{pid}")
                assert (got.status_code, got.json()["price_cents"]) == (200, n)
                assert time.monotonic() - t0 < 2
            assert http.delete(f"{P}/{pid}").status_code == 200
            assert http.get(f"{P}/{pid}").status_code == 404
            assert http.get(P).json()["data"] == []
        assert api.log().count("Redis failed") == 1
    finally:
        api.stop()
