"""Four API processes and four workers through Debian's PgBouncer in transaction mode, with
a server pool of 8 connections (far fewer than the processes' client pools), on a private
server: orders flow and all settle, the invariants hold, no request fails, and PgBouncer never
holds more than 8 server connections. Workers LISTEN, and migrations run, on the direct URL."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
import psycopg
import pytest

from invorder.db.migrate import migrate_up
from tests.conftest import TEST_ENV
from tests.support.invariants import (
    charges_file,
    check_orders_settled,
    check_payments,
    check_stock_invariants,
    double_charges,
    simulator_charges,
)
from tests.support.pg_cluster import pgbouncer, private_cluster, require_pgbouncer
from tests.support.processes import AUTH, start_api, start_payments_sim, start_worker, wait_until
from tests.system.test_database_restart import Outcome, post_orders_until
from tests.system.test_order_processing import make_products

pytestmark = [pytest.mark.slow, pytest.mark.chaos]
SERVER_POOL = 8


def test_four_apis_and_four_workers_share_eight_server_connections(tmp_path: Path) -> None:
    require_pgbouncer()
    with private_cluster(tmp_path / "cluster") as cluster:
        node = cluster.primary()
        with psycopg.connect(node.url(), autocommit=True) as admin:
            admin.execute("create database invorder")
        direct = node.url("invorder")
        migrate_up(direct)
        with pgbouncer(node, tmp_path / "pgbouncer", pool_size=SERVER_POOL) as bouncer:
            sim = start_payments_sim(TEST_ENV, tmp_path / "charges.sqlite3", "--seed", "1", "--latency-ms", "20")
            env = {
                **TEST_ENV,
                "DATABASE_URL": bouncer.url(),
                "INVORDER_DB_POOLER": "transaction",
                "INVORDER_LISTEN_DATABASE_URL": direct,
                "INVORDER_PAYMENTS_URL": sim.url,
            }
            apis = [start_api(env) for _ in range(4)]
            workers = [start_worker(env, concurrency=16) for _ in range(4)]
            peak = 0
            watching = threading.Event()

            def watch_pools() -> None:
                nonlocal peak
                while not watching.is_set():
                    for pool in bouncer.show_pools():
                        if pool["database"] == "invorder":
                            held = sum(
                                int(pool[k])  # type: ignore[call-overload]
                                for k in ("sv_active", "sv_idle", "sv_used", "sv_tested", "sv_login")
                            )
                            peak = max(peak, held)
                    time.sleep(0.1)

            try:
                product_ids = make_products(apis[0].url, [100_000] * 5)
                watcher = threading.Thread(target=watch_pools)
                watcher.start()
                stop = threading.Event()
                results: list[Outcome] = []
                loads = [
                    threading.Thread(target=lambda u=api.url: results.extend(post_orders_until(u, product_ids, stop)))
                    for api in apis
                ]
                for load in loads:
                    load.start()
                time.sleep(8)
                stop.set()
                for load in loads:
                    load.join(timeout=60)

                accepted = [r.order_id for r in results if r.order_id is not None]
                failed = [r.failure for r in results if r.failure is not None]
                with psycopg.connect(direct, autocommit=True) as sql:
                    wait_until(
                        lambda: (
                            sql.execute(
                                "select count(*) from orders where status not in ('processed', 'failed')"
                            ).fetchone()
                            == (0,)
                        ),
                        timeout=90,
                        what="every order to settle through the pooler",
                    )
                    watching.set()
                    watcher.join(timeout=10)
                    stored = {row[0] for row in sql.execute("select id from orders").fetchall()}
                    charges = simulator_charges(charges_file(sim))
                    check_stock_invariants(sql)
                    check_orders_settled(sql)
                    check_payments(sql, charges)
                    listening = sql.execute(
                        "select count(*) from pg_stat_activity where application_name = 'invorder-worker-listen'"
                    ).fetchone()
                with httpx.Client(base_url=apis[0].url, headers=AUTH, timeout=10) as http:
                    assert http.get("/readyz").status_code == 200
                lost = sorted(set(accepted) - stored)
                print(
                    f"CHAOS fault=pgbouncer sent={len(results)} failed={len(failed)} accepted={len(accepted)}"
                    f" lost={len(lost)} double_charges={double_charges(charges)} recover_s=0.0"
                )
                print(f"pgbouncer: peak server connections {peak} of {SERVER_POOL}; failures {failed[:5]}")
                assert len(accepted) > 200, results[-5:]
                assert failed == [], failed[:10]
                assert lost == []
                assert 0 < peak <= SERVER_POOL, peak
                assert listening == (4,), listening  # each worker LISTENs on the direct session
            finally:
                watching.set()
                for process in [*apis, *workers]:
                    process.stop()
                sim.stop()
