"""Real invorder processes for tests: start, wait until ready, stop or kill."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import httpx

# The API key every test process is started with (INVORDER_ADMIN_TOKEN: every scope), and the
# header that presents it.
ADMIN_TOKEN = "invorder-test-admin-token"
AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
C = TypeVar("C", bound=httpx.Client)


def authed(client: C) -> C:
    """`client` (an httpx or Litestar test client) presenting the test admin key."""
    client.headers.update(AUTH)
    return client


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(condition: Callable[[], bool], *, timeout: float, what: str, interval: float = 0.05) -> None:
    """Poll `condition` until it holds; fail the test with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


@dataclass
class LiveProcess:
    popen: subprocess.Popen[bytes]
    log_path: Path
    url: str = ""

    def stop(self, timeout: float = 20) -> int:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                return self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
        return self.popen.wait()

    def kill(self) -> None:
        if self.popen.poll() is None:
            self.popen.kill()
        self.popen.wait()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def run_invorder(*args: str, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run one `invorder` command to its end with only `env` (plus PYTHONPATH, so the child runs
    the same invorder as the tests) for environment."""
    inherited = {"PYTHONPATH": os.environ["PYTHONPATH"]} if os.environ.get("PYTHONPATH") else {}
    return subprocess.run(
        [sys.executable, "-m", "invorder", *args],
        env={**inherited, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def start_invorder(args: list[str], env: dict[str, str], log_name: str) -> LiveProcess:
    log_dir = Path(os.environ.get("INVORDER_TEST_ARTIFACTS", "test-artifacts")) / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{log_name}-{time.time_ns()}.log"
    with log_path.open("wb") as out:
        popen = subprocess.Popen(
            [sys.executable, "-m", "invorder", *args],
            env={**os.environ, **env},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return LiveProcess(popen, log_path)


def wait_answering(process: LiveProcess, path: str, who: str, *, timeout: float = 30) -> None:
    """Wait until `process` answers 200 on `path`; fail at once with its log if it exits."""

    def ready() -> bool:
        if process.popen.poll() is not None:
            raise AssertionError(f"{who} exited early:\n{process.log()}")
        try:
            return httpx.get(process.url + path, timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    wait_until(ready, timeout=timeout, what=f"{who} to be ready")


def start_api(env: dict[str, str], *, processes: int = 1) -> LiveProcess:
    """`invorder serve` (granian, `processes` API processes) on a free port, once it answers
    /readyz; with several, once every one of them is up."""
    port = free_port()
    process = start_invorder(["serve", "--port", str(port), "--processes", str(processes)], env, "api")
    process.url = f"http://127.0.0.1:{port}"

    wait_answering(process, "/readyz", "the API")
    if processes > 1:
        wait_until(
            lambda: len(child_pids(process.popen.pid)) == processes,
            timeout=30,
            what=f"{processes} API processes",
        )
    return process


def child_pids(pid: int) -> set[int]:
    """The processes `pid` started (granian's API processes, for `invorder serve`), from /proc."""
    children: set[int] = set()
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(OSError):
                children.update(int(c) for c in (task / "children").read_text().split())
    except OSError:
        pass
    return children


def wait_api_replaced(api: LiveProcess, before: set[int], *, processes: int, timeout: float = 60) -> set[int]:
    """After a SIGHUP to `invorder serve`: wait until none of the API processes in `before` is
    left and `processes` new ones serve (granian stops an old one only once its successor is
    ready), and return the new pids."""

    def replaced() -> bool:
        if api.popen.poll() is not None:
            raise AssertionError(f"the API exited during its rolling restart:\n{api.log()}")
        now = child_pids(api.popen.pid)
        return len(now) == processes and not now & before

    wait_until(replaced, timeout=timeout, what="every API process to be replaced", interval=0.1)
    return child_pids(api.popen.pid)


def start_worker(env: dict[str, str], *, concurrency: int = 8) -> LiveProcess:
    """`invorder worker` as a real process."""
    return start_invorder(["worker", "--concurrency", str(concurrency)], env, "worker")


def wait_workers_ready(database_url: str, workers: list[LiveProcess], *, timeout: float = 60) -> None:
    """Wait until every one of `workers` has reported in `queue_workers` (its first heartbeat,
    written once its pool is open and its signal handlers are set): only then does SIGTERM
    make it finish what it holds and exit 0."""
    import psycopg

    pids = {str(w.popen.pid) for w in workers}

    def reported() -> bool:
        with psycopg.connect(database_url, autocommit=True) as conn:
            rows = conn.execute("select worker_id from queue_workers where stopped_at is null").fetchall()
        return pids <= {str(row[0]).split(":")[1] for row in rows}

    wait_until(reported, timeout=timeout, what="every worker to report in queue_workers", interval=0.2)


def set_sim_faults(sim: LiveProcess, **faults: float) -> None:
    """Set the payment simulator's faults over `/_sim/config`: those given, every other one off."""
    config = {
        "latency_ms": 0,
        "decline_rate": 0.0,
        "error_rate": 0.0,
        "timeout_rate": 0.0,
        "lost_response_rate": 0.0,
        "refund_failure_rate": 0.0,
    }
    response = httpx.put(sim.url + "/_sim/config", json={**config, **faults}, timeout=5)
    assert response.status_code == 200, response.text


def start_payments_sim(env: dict[str, str], data_file: Path, *args: str, port: int | None = None) -> LiveProcess:
    """`invorder payments-sim --control` as a real process (on a free port unless given);
    extra flags in `args`."""
    port = port or free_port()
    process = start_invorder(
        ["payments-sim", "--port", str(port), "--control", "--data-file", str(data_file), *args], env, "payments-sim"
    )
    process.url = f"http://127.0.0.1:{port}"

    wait_answering(process, "/healthz", "the payment simulator")
    return process
