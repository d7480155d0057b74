"""Logging set-up for every process: readable lines on a terminal, one JSON object per line otherwise."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

# Attributes every LogRecord has; anything else passed in `extra=` is a structured field.
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}
# Fields of what the current task is working on (request id, job id, order id): every line
# logged meanwhile carries them, whichever module logs it.
_CONTEXT: ContextVar[dict[str, Any] | None] = ContextVar("invorder_log_context", default=None)


@contextmanager
def log_context(**fields: Any) -> Iterator[None]:
    """Add `fields` to every log line written inside the block (by this task and the tasks it starts)."""
    token = _CONTEXT.set({**(_CONTEXT.get() or {}), **fields})
    try:
        yield
    finally:
        _CONTEXT.reset(token)


def bind_log_context(**fields: Any) -> None:
    """Add `fields` to every log line the current task writes from now on (for a task that runs
    one unit of work, such as one job: the binding ends with the task)."""
    _CONTEXT.set({**(_CONTEXT.get() or {}), **fields})


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    return {**(_CONTEXT.get() or {}), **{k: v for k, v in vars(record).items() if k not in _STANDARD}}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        entry.update(_fields(record))
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class ReadableFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        fields = " ".join(f"{k}={v}" for k, v in _fields(record).items())
        line = f"{self.formatTime(record, '%H:%M:%S')} {record.levelname:<7} {record.name}: {record.getMessage()}"
        if fields:
            line += f"  [{fields}]"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def configure_logging(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(ReadableFormatter() if sys.stderr.isatty() else JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.getLogger("psycopg.pool").setLevel(logging.WARNING)
