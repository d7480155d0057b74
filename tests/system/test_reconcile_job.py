"""The periodic `reconcile` job in real worker processes: seeded at start-up, repairing drift,
rescheduling itself exactly once per run, never two waiting at a time."""

from __future__ import annotations

from typing import Any

from tests.support.handmade import make_order, make_product, stock
from tests.support.processes import LiveProcess, start_worker, wait_until


def reconcile_jobs(sql: Any) -> list[tuple[int, str, float]]:
    """(id, status, seconds until run_after) of every reconcile job."""
    return sql.execute(
        "select id, status, extract(epoch from run_after - now())::float8"
        " from jobs where kind = 'reconcile' order by id"
    ).fetchall()


def started(worker: LiveProcess) -> bool:
    if worker.popen.poll() is not None:
        raise AssertionError(f"worker exited:\n{worker.log()}")
    return "started (kinds" in worker.log()


def test_worker_seeds_the_job_which_repairs_and_schedules_one_successor(system_env: dict[str, str], sql: Any) -> None:
    pid = make_product(sql)
    make_order(sql, {pid: 2}, status="reserved")
    sql.execute("update inventory set reserved = 7 where product_id = %s", (pid,))
    env = {**system_env, "INVORDER_RECONCILE_INTERVAL_S": "3600", "INVORDER_LOG_LEVEL": "INFO"}
    workers = [start_worker(env, concurrency=4)]
    try:
        wait_until(lambda: stock(sql, pid)[1] == 2, timeout=30, what="the reconcile job to repair reserved")

        def one_successor() -> bool:
            jobs = reconcile_jobs(sql)
            return len(jobs) == 1 and jobs[0][1] == "ready" and jobs[0][2] > 3500

        wait_until(one_successor, timeout=30, what="exactly one successor an hour out")
        [(successor, _, _)] = reconcile_jobs(sql)
        workers.append(start_worker(env, concurrency=4))
        wait_until(lambda: started(workers[1]), timeout=30, what="the second worker to start")
        assert [job_id for job_id, _, _ in reconcile_jobs(sql)] == [successor]  # it saw one and added none
        assert "reconcile: product" in workers[0].log() and "reserved 7 -> 2" in workers[0].log()
    finally:
        for worker in workers:
            worker.stop()


def test_short_interval_runs_again_and_again_with_one_job_waiting_at_most(system_env: dict[str, str], sql: Any) -> None:
    env = {**system_env, "INVORDER_RECONCILE_INTERVAL_S": "0.3"}
    workers = [start_worker(env, concurrency=4) for _ in range(2)]
    seen: set[int] = set()
    samples: list[list[tuple[int, str, float]]] = []

    def watch() -> bool:
        jobs = reconcile_jobs(sql)
        samples.append(jobs)
        seen.update(job_id for job_id, _, _ in jobs)
        return len(seen) >= 6

    try:
        wait_until(watch, timeout=60, what="six runs of the reconcile job", interval=0.02)
    finally:
        for worker in workers:
            worker.stop()
    for jobs in samples:
        # A run's own job (running, deleted once completed) and its one successor, never more.
        assert sum(status == "ready" for _, status, _ in jobs) <= 1, jobs
        assert len(jobs) <= 2, jobs
    assert sql.execute("select count(*) from jobs where kind = 'reconcile' and status = 'ready'").fetchone()[0] == 1
