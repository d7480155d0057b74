"""bin/migration-under-load in small form: the categories migration, applied while products
are read and written and orders placed, fails no request and loses no order, even when a long
transaction makes it wait and retry."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "bin" / "migration-under-load"
# Long enough that `invorder migrate up`, started as the hold begins, meets it even on a busy
# machine where starting Python and dbmate takes seconds.
HOLD_S = 8.0


@pytest.mark.slow
def test_categories_migration_under_load_fails_no_request_and_loses_no_order(pg_admin_url: str) -> None:
    result = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            *("--seconds", "9", "--warmup", "2", "--concurrency", "4", "--products", "10"),
            *("--hold-lock", str(HOLD_S), "--order-wait", "60", "--json"),
        ],
        env={**os.environ, "DATABASE_URL": pg_admin_url, "INVORDER_MIGRATE_RETRY_BASE_S": "0.5"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["migration"]["returncode"] == 0
    assert report["requests"]["sent"] > 100 and report["requests"]["failed"] == 0, report["failures"]
    during = report["phases"]["during"]
    assert during["sent"] > 0, "no request overlapped the migration"
    # The long transaction made the migration give up and retry; while it waited, writes to
    # products queued behind it for at most its lock_timeout (1 s), never for the whole hold.
    assert report["migration"]["retries"] >= 1
    assert during["max_ms"] < 3000, during
    orders = report["orders"]
    assert orders["accepted"] > 0 and orders["lost"] == 0 and orders["found"] == orders["accepted"]
