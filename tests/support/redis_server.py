"""A private `redis-server` for tests, on a free port: never the machine's own Redis."""

from __future__ import annotations

import shutil
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis

from tests.support.processes import free_port, wait_until


def redis_server_binary() -> str:
    """The redis-server to run; fails the test (never skips it) when there is none."""
    found = shutil.which("redis-server") or (
        "/usr/bin/redis-server" if Path("/usr/bin/redis-server").exists() else None
    )
    if found is None:
        pytest.fail(
            "redis-server is not installed: the cache tests need it"
            " (`apt-get install redis-server`; .ci/run installs it when it is missing)",
            pytrace=False,
        )
    return found


@dataclass
class RedisServer:
    """One redis-server process with no persistence; `start()` again after `kill()` brings up an
    empty one on the same port."""

    port: int
    folder: Path
    popen: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=2, socket_connect_timeout=2)

    def start(self) -> None:
        log = (self.folder / "redis-server.log").open("ab")
        with log:
            self.popen = subprocess.Popen(
                [
                    redis_server_binary(),
                    *("--port", str(self.port), "--bind", "127.0.0.1"),
                    *("--save", "", "--appendonly", "no", "--dir", str(self.folder)),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

        def answers() -> bool:
            assert self.popen is not None
            if self.popen.poll() is not None:
                raise AssertionError(f"redis-server exited early: see {self.folder / 'redis-server.log'}")
            try:
                with self.client() as probe:
                    return bool(probe.ping())
            except redis.RedisError:
                return False

        wait_until(answers, timeout=10, what="redis-server to answer")

    def pause(self) -> None:
        """SIGSTOP: Redis hangs, connections stay open and nothing answers."""
        assert self.popen is not None
        self.popen.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.popen is not None
        self.popen.send_signal(signal.SIGCONT)

    def kill(self) -> None:
        """SIGKILL: Redis dies with every connection open, as in a crash."""
        if self.popen is not None and self.popen.poll() is None:
            self.popen.kill()
        if self.popen is not None:
            self.popen.wait()


def start_redis_server(folder: Path) -> RedisServer:
    folder.mkdir(parents=True, exist_ok=True)
    server = RedisServer(free_port(), folder)
    server.start()
    return server
