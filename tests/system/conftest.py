"""Fixtures the system tests share: real API and worker processes on the test database."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.processes import start_api, start_worker


@pytest.fixture
def system(system_env: dict[str, str]) -> Iterator[dict[str, Any]]:
    """One API process and two workers (16 jobs each) beside the payment simulator; a test may
    replace `state["workers"]` (after SIGKILLing one) and the replacements are stopped too."""
    api = start_api(system_env)
    workers = [start_worker(system_env, concurrency=16) for _ in range(2)]
    state: dict[str, Any] = {"api": api, "workers": workers, "env": system_env}
    yield state
    for process in [*state["workers"], api]:
        process.stop()
