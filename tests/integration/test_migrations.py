"""Migrations: `invorder migrate` applies, lists and safely reruns them; the schema documents itself."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import psycopg
import pytest

from invorder.db.migrate import migrate_up, migrations_dir, pending_migrations
from tests.support.processes import run_invorder


def invorder(*args: str, database_url: str) -> subprocess.CompletedProcess[str]:
    return run_invorder(*args, env={"DATABASE_URL": database_url, "PATH": "/usr/bin:/bin"})


def test_migrate_up_then_status_lists_every_migration_as_applied(empty_database_url: str) -> None:
    assert pending_migrations(empty_database_url)
    up = invorder("migrate", "up", database_url=empty_database_url)
    assert up.returncode == 0, up.stderr
    status = invorder("migrate", "status", database_url=empty_database_url)
    assert status.returncode == 0, status.stderr
    files = sorted(p.name for p in migrations_dir().glob("*.sql"))
    for name in files:
        assert f"[X] {name}" in status.stdout
    assert "Pending: 0" in status.stdout
    assert pending_migrations(empty_database_url) == []
    again = invorder("migrate", "up", database_url=empty_database_url)
    assert again.returncode == 0


def test_every_table_and_key_column_has_a_comment(sql: Any) -> None:
    missing = sql.execute(
        """
        select c.relname
        from pg_class c join pg_namespace n on n.oid = c.relnamespace
        where n.nspname = 'public' and c.relkind = 'r' and c.relname <> 'schema_migrations'
          and obj_description(c.oid, 'pg_class') is null
        """
    ).fetchall()
    assert missing == []
    for table, column in [
        ("products", "name_key"),
        ("inventory", "reserved"),
        ("jobs", "run_after"),
        ("jobs", "lease_expires_at"),
        ("orders", "status"),
    ]:
        comment = sql.execute(
            "select col_description(%s::regclass, attnum) from pg_attribute"
            " where attrelid = %s::regclass and attname = %s",
            (table, table, column),
        ).fetchone()[0]
        assert comment, f"{table}.{column} has no comment"


def test_database_refuses_reserved_above_on_hand(sql: Any) -> None:
    sql.execute("insert into products (name, price_cents) values ('x', 1)")
    sql.execute("insert into inventory (product_id, on_hand) values (1, 5)")
    for on_hand, reserved in ((5, 6), (5, -1), (-1, 0)):
        try:
            sql.execute("update inventory set on_hand = %s, reserved = %s", (on_hand, reserved))
        except psycopg.errors.CheckViolation:
            continue
        raise AssertionError(f"on_hand={on_hand} reserved={reserved} was accepted")


def test_rerun_of_a_concurrent_index_migration_that_failed_half_way_rebuilds_the_index(
    empty_database_url: str, tmp_path: Path
) -> None:
    (tmp_path / "001_create_t.sql").write_text(
        "-- migrate:up\ncreate table t (id bigint primary key, c bigint);\n"
        "insert into t values (1, 1), (2, 1);\n-- migrate:down\ndrop table t;\n"
    )
    (tmp_path / "002_t_c_key.sql").write_text(
        "-- migrate:up transaction:false\ncreate unique index concurrently if not exists t_c_key on t (c);\n"
        "-- migrate:down\ndrop index t_c_key;\n"
    )

    def index_valid() -> bool | None:
        with psycopg.connect(empty_database_url) as conn:
            found = conn.execute("select indisvalid from pg_index where indexrelid = to_regclass('t_c_key')").fetchone()
        return None if found is None else bool(found[0])

    # The duplicate fails the build after the index was created: it stays behind, INVALID.
    with pytest.raises(subprocess.CalledProcessError):
        migrate_up(empty_database_url, migrations=tmp_path)
    assert index_valid() is False
    assert pending_migrations(empty_database_url, migrations=tmp_path) == ["002"]

    with psycopg.connect(empty_database_url) as conn:
        conn.execute("delete from t where id = 2")
    migrate_up(empty_database_url, migrations=tmp_path)
    assert index_valid() is True
    assert pending_migrations(empty_database_url, migrations=tmp_path) == []
