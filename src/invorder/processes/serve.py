"""`invorder serve`: the API under granian, with rolling restarts on SIGHUP."""

from __future__ import annotations

import contextlib
import logging
import math
import multiprocessing
import multiprocessing.connection
import os
import select
import signal
import sys
import time
from typing import Any, cast

from invorder.settings import Settings

log = logging.getLogger(__name__)


# Rolling restarts (SIGHUP to `invorder serve`): granian replaces its processes one at a time.
# Once its successor is ready, a replaced process is told to drain (DRAIN_SIGNAL): it stops
# accepting connections from the shared listening socket (the others take them) and for DRAIN_S
# answers every request with `Connection: close`, so no client still has a request on the way to
# it when it stops; then SIGTERM, on which granian closes its idle connections and finishes the
# requests in hand.
DRAIN_S = 1.0
READY_TIMEOUT_S = 60.0  # a new process that has not opened its pool by then is given up
# Where each API process marks itself ready (a file named by its pid) once its lifespan started.
READY_DIR_ENV = "INVORDER_API_READY_DIR"
# "fd:inode" of the listening socket every API process shares (set by the main process).
LISTEN_FD_ENV = "INVORDER_API_LISTEN_FD"
DRAIN_SIGNAL = signal.SIGUSR1


def serve_api(settings: Settings, database_url: str, *, processes: int = 1, reload: bool = False) -> None:
    """Serve the API until SIGINT/SIGTERM (granian handles both and drains requests); SIGHUP
    replaces the processes one at a time without failing a request."""
    import shutil
    import tempfile

    from granian.constants import Interfaces

    os.environ["DATABASE_URL"] = database_url  # granian's workers build the app from the environment
    made: list[str] = []
    if processes > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # Several API processes: each writes its metrics where /metrics (in any of them) reads all.
        made.append(tempfile.mkdtemp(prefix="invorder-metrics-"))
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = made[-1]
    made.append(tempfile.mkdtemp(prefix="invorder-ready-"))
    os.environ[READY_DIR_ENV] = made[-1]
    # A request in flight on a replaced process may be a long poll (GET /orders/{id}?wait=):
    # it is given its whole wait and a request's bounds before the process is killed.
    kill_timeout = math.ceil(settings.order_wait_max_s + settings.api_request_timeout_s + DRAIN_S + 1)
    try:
        _rolling_server_class()(
            "invorder.processes.serve:create_served_app",
            factory=True,
            interface=Interfaces.ASGI,
            address=settings.host,
            port=settings.port,
            workers=processes,
            reload=reload,
            log_access=False,
            respawn_interval=DRAIN_S,
            workers_kill_timeout=kill_timeout,
        ).serve()
    finally:
        for folder in made:
            shutil.rmtree(folder, ignore_errors=True)


def create_served_app() -> Any:
    """granian's factory: the API app, able to drain (`_Drainable`).

    An API process is forked from `invorder serve`, with the invorder modules it had imported
    (cli, settings, db, sql, queue, ...): they are dropped first, so that a process started after
    a deploy (SIGHUP) runs the new code throughout, not the new app over the old modules. Other
    packages stay as the main process loaded them: upgrading one needs a full restart."""
    for name in [m for m in sys.modules if m == "invorder" or m.startswith("invorder.")]:
        del sys.modules[name]
    from invorder.api.app import create_app_from_env

    signal.signal(DRAIN_SIGNAL, signal.SIG_IGN)  # until the app is up (the default would exit)
    return _Drainable(create_app_from_env(), os.environ.get(READY_DIR_ENV))


class _Drainable:
    """ASGI wrapper of the app in one API process: marks the process ready in `ready_dir` once
    the app's lifespan has started (and unmarks it at shutdown); on DRAIN_SIGNAL adds
    `Connection: close` to every answer from then on (granian closes the connection after it)."""

    def __init__(self, app: Any, ready_dir: str | None) -> None:
        self.app = app
        self.ready_file = os.path.join(ready_dir, str(os.getpid())) if ready_dir else None
        self.draining = False

    def _drain(self) -> None:
        self.draining = True
        shared = os.environ.get(LISTEN_FD_ENV)
        if shared:
            fd, inode = (int(part) for part in shared.split(":"))
            if not _stop_accepting(fd, inode):
                log.warning("API process %s could not stop accepting connections", os.getpid())

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and self.draining:

            async def send_closing(message: Any) -> None:
                if message["type"] == "http.response.start":
                    message = {**message, "headers": [*message.get("headers", ()), (b"connection", b"close")]}
                await send(message)

            await self.app(scope, receive, send_closing)
        elif scope["type"] == "lifespan":

            async def send_lifespan(message: Any) -> None:
                if message["type"] == "lifespan.startup.complete":
                    import asyncio

                    asyncio.get_running_loop().add_signal_handler(DRAIN_SIGNAL, self._drain)
                    if self.ready_file:
                        os.close(os.open(self.ready_file, os.O_CREAT | os.O_WRONLY, 0o600))  # an empty marker
                elif message["type"].startswith("lifespan.shutdown") and self.ready_file:
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(self.ready_file)
                await send(message)

            await self.app(scope, receive, send_lifespan)
        else:
            await self.app(scope, receive, send)


def _stop_accepting(fd: int, inode: int) -> bool:
    """Take the shared listening socket `fd` out of every epoll set of this process, so that
    granian's accept loop (a tokio task waiting on one of them) is never woken for it again and
    the other processes take every new connection. Not by closing it or putting another socket
    on its number: tokio would then be left with a registration it cannot remove, woken for a
    socket it has freed. Its own deregistration at exit finds nothing to remove, which it ignores."""
    try:
        if os.fstat(fd).st_ino != inode:
            return False
    except OSError:
        return False
    removed = False
    for name in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{name}") != "anon_inode:[eventpoll]":
                continue
            with open(f"/proc/self/fdinfo/{name}") as info:
                watched = [line.split() for line in info if line.startswith("tfd:")]
            if not any(w[1] == str(fd) and f"ino:{inode:x}" in w for w in watched):
                continue
            copy = os.dup(int(name))  # closing the copy leaves tokio's epoll open
            try:
                epoll = select.epoll.fromfd(copy)
            except BaseException:
                os.close(copy)
                raise
            try:
                epoll.unregister(fd)
                removed = True
            except FileNotFoundError:  # the same epoll set, under another number, done already
                removed = True
            finally:
                epoll.close()
        except OSError:
            continue
    return removed


def _rolling_server_class() -> Any:
    """granian's multi-process server, changed for rolling restarts. On SIGTERM a granian process
    stops accepting and closes its idle connections at the same instant: a connection it has just
    accepted, or a kept-alive one whose next request is on its way, is closed unanswered. Under
    load that failed a request or two per process replaced (and more with granian's own
    socket per process, below), so:

    - one listening socket, made here and shared by every process: granian on Linux gives each
      process its own (SO_REUSEPORT), and the connections queued on a process's socket are reset
      when it closes it (unless net.ipv4.tcp_migrate_req=1, a sysctl). A shared queue outlives
      any one process.
    - a replacement (SIGHUP; also workers_lifetime, workers_max_rss) starts the new process and
      waits until it is ready (its lifespan started: the pool is open), not a fixed interval; it
      keeps the old one if the new one exits or is not ready within READY_TIMEOUT_S. Then the old
      one drains (`_Drainable._drain`) for `respawn_interval`, then SIGTERM; it is killed only if
      its requests are not done within workers_kill_timeout.
    """
    import socket

    from granian._granian import SocketHolder
    from granian.server.mp import MPServer
    from prometheus_client import multiprocess

    class RollingServer(MPServer):
        def _init_shared_socket(self) -> None:
            if self.bind_uds or sys.platform != "linux" or multiprocessing.get_start_method() != "fork":
                super()._init_shared_socket()  # type: ignore[no-untyped-call]
                return
            family = socket.AF_INET6 if ":" in self.bind_addr else socket.AF_INET
            sock = socket.create_server((self.bind_addr, self.bind_port), family=family, backlog=self.backlog)
            sock.set_inheritable(True)  # forked workers share it
            self._ssp = None
            self._shd = cast(Any, SocketHolder(sock.fileno(), False, self.backlog))  # type: ignore[call-arg]
            self._sfd = cast(Any, sock.fileno())
            self._sso = sock
            os.environ[LISTEN_FD_ENV] = f"{sock.fileno()}:{os.fstat(sock.fileno()).st_ino}"

        def _respawn_workers(self, workers: Any, spawn_target: Any, target_loader: Any, delay: float = 0) -> None:
            if not delay:  # a crashed process replaced: nothing to hand over
                super()._respawn_workers(workers, spawn_target, target_loader)
                return
            for idx in workers:
                self.respawned_wrks[idx] = time.monotonic()
                old = self.wrks[idx]
                log.info("replacing API process %s (pid %s)", idx + 1, old.inner.pid)
                new = self._spawn_worker(idx=idx, target=spawn_target, callback_loader=target_loader)
                new.interrupt_by_parent = True  # an exit before it is ready is handled here
                new.start()  # type: ignore[no-untyped-call]
                failure = _wait_ready(new)
                if failure:
                    log.error("new API process %s %s; keeping the old ones", idx + 1, failure)
                    new.kill()  # type: ignore[no-untyped-call]
                    new.join()  # type: ignore[no-untyped-call]
                    return
                new.interrupt_by_parent = False
                self.wrks[idx] = new
                with contextlib.suppress(ProcessLookupError):
                    os.kill(old.inner.pid, DRAIN_SIGNAL)
                time.sleep(delay)
                old.terminate()
                # Its sentinel, not is_alive(): granian's watcher thread may reap it first, and
                # is_alive() then reports a dead process alive.
                if not multiprocessing.connection.wait([old.inner.sentinel], self.workers_kill_timeout):
                    log.warning("killing old API process %s: still busy after %ss", idx + 1, self.workers_kill_timeout)
                    old.kill()
                old.join()
                if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
                    multiprocess.mark_process_dead(old.inner.pid)  # type: ignore[no-untyped-call]
                log.info("replaced API process %s: pid %s is now %s", idx + 1, old.inner.pid, new.inner.pid)
            self._metrics.incr_spawn(len(workers))

    def _wait_ready(worker: Any) -> str | None:
        """None once `worker` is ready; else what went wrong."""
        marker = os.path.join(os.environ[READY_DIR_ENV], str(worker.inner.pid))
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if os.path.exists(marker):
                return None
            if multiprocessing.connection.wait([worker.inner.sentinel], 0.05):
                return f"exited with status {worker.inner.exitcode} before it was ready"
        return f"was not ready within {READY_TIMEOUT_S:.0f}s"

    return RollingServer
