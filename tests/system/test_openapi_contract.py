"""The API against its own OpenAPI document, by schemathesis (every check, every phase), on a
live `invorder serve`: with a key holding every scope there is no failure, and without a key
every operation answers 401. schemathesis.toml at the root says what the document cannot know."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.processes import ADMIN_TOKEN, LiveProcess

ROOT = Path(__file__).resolve().parents[2]
OPEN = r"^/(healthz|readyz)$"  # the only operations without a key


def schemathesis(api: LiveProcess, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            *(sys.executable, "-m", "schemathesis.cli", "run", f"{api.url}/schema/openapi.json"),
            *("--checks", "all", "--max-examples", "15", "--workers", "1", "--seed", "1"),
            *("--no-color", "--report", "har", "--report-har-path", str(tmp_path / "run.har")),
            *args,
        ],
        cwd=ROOT,  # for schemathesis.toml
        capture_output=True,
        text=True,
        timeout=600,
    )


def answers(tmp_path: Path) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = json.loads((tmp_path / "run.har").read_text())["log"]["entries"]
    return entries


@pytest.mark.slow
def test_schemathesis_finds_no_failure_with_a_full_access_key(live_api: LiveProcess, tmp_path: Path) -> None:
    run = schemathesis(live_api, tmp_path, "-H", f"Authorization: Bearer {ADMIN_TOKEN}")
    assert run.returncode == 0, run.stdout[-20000:] + run.stderr[-5000:]
    statuses = Counter(entry["response"]["status"] for entry in answers(tmp_path))
    assert sum(n for status, n in statuses.items() if 200 <= status < 300) > 100, statuses


@pytest.mark.slow
def test_without_a_key_every_operation_answers_401(live_api: LiveProcess, tmp_path: Path) -> None:
    run = schemathesis(live_api, tmp_path, "--exclude-path-regex", OPEN)
    assert run.returncode == 0, run.stdout[-20000:] + run.stderr[-5000:]
    document = httpx.get(f"{live_api.url}/schema/openapi.json").json()
    routes = [re.compile("^" + re.sub(r"\{[^}]+\}", "[0-9]+", path) + "$") for path in document["paths"]]
    entries = answers(tmp_path)
    assert len(entries) > 500
    for entry in entries:
        method, url, status = entry["request"]["method"], entry["request"]["url"], entry["response"]["status"]
        path = "/" + url.split("/", 3)[3].split("?", 1)[0]
        # Before any key is read, the router answers a path no route matches (404) and a
        # method a route lacks (405); neither says anything the document does not.
        if status == 404 and not any(r.match(path) for r in routes):
            continue
        if status == 405 and method.lower() not in document["paths"].get(_template(document, path), {}):
            continue
        assert status == 401, f"{method} {url} answered {status} without a key"


def _template(document: dict[str, Any], path: str) -> str:
    for template in document["paths"]:
        if re.match("^" + re.sub(r"\{[^}]+\}", "[0-9]+", template) + "$", path):
            return str(template)
    return ""
