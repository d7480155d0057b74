"""The completer: buffers what handlers decided about their jobs and writes it in batches
(one `delete` for finished jobs, one `update` for jobs going back), conditional on still
holding each job's lease."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import psycopg

from invorder import db
from invorder.sql import queries

log = logging.getLogger(__name__)
Q = queries()


@dataclass
class _Batch:
    completed: list[int] = field(default_factory=list)
    released_ids: list[int] = field(default_factory=list)
    delays: list[float] = field(default_factory=list)
    errors: list[str | None] = field(default_factory=list)
    failed: list[bool] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.completed) + len(self.released_ids)


class Completer:
    def __init__(
        self,
        pool: Any,
        owner: str,
        held: set[int],
        writing: asyncio.Lock,
        *,
        on_written: Callable[[list[int]], None] | None = None,
    ) -> None:
        """`on_written(ids)` is called after each batch is written with the ids in it (those
        jobs no longer count as running)."""
        self._pool = pool
        self._owner = owner
        # Held while this worker writes its own running jobs (here, and when it renews their
        # leases): two such statements at once, each locking many of the same rows in its own
        # order, deadlock each other.
        self._writing = writing
        self._held = held  # ids this worker holds; written ids leave it
        self._batch = _Batch()
        self._pending = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self.written = 0
        self._closing = False
        self._on_written = on_written

    def complete(self, job_id: int) -> None:
        self._batch.completed.append(job_id)
        self._wake()

    def release(self, job_id: int, *, delay_s: float, error: str | None, failed: bool) -> None:
        b = self._batch
        b.released_ids.append(job_id)
        b.delays.append(delay_s)
        b.errors.append(error)
        b.failed.append(failed)
        self._wake()

    def _wake(self) -> None:
        self._idle.clear()
        self._pending.set()

    async def run(self) -> None:
        """Write batches until `close()`; each write takes whatever gathered meanwhile."""
        while True:
            await self._pending.wait()
            self._pending.clear()
            await self.flush()
            if self._closing and not len(self._batch):
                return

    def close(self) -> None:
        """Ask `run` to write what is left and return (await the task running it)."""
        self._closing = True
        self._pending.set()

    async def flush(self) -> None:
        """Write everything buffered now; on a database error keep it and try again."""
        while len(self._batch):
            batch, self._batch = self._batch, _Batch()
            try:
                # One kind of result is one statement, its own transaction (one round trip);
                # both kinds share a transaction.
                both = bool(batch.completed) and bool(batch.released_ids)
                async with self._writing, (db.transaction if both else db.single_statement)(self._pool) as conn:
                    if batch.completed:
                        await db.execute(conn, Q.complete_jobs, ids=batch.completed, owner=self._owner)
                    if batch.released_ids:
                        await db.execute(
                            conn,
                            Q.release_jobs,
                            ids=batch.released_ids,
                            delays=batch.delays,
                            errors=batch.errors,
                            failed=batch.failed,
                            owner=self._owner,
                        )
            except (psycopg.Error, OSError) as exc:
                log.warning("could not record %d job results, retrying: %s", len(batch), exc)
                self._merge_back(batch)
                await asyncio.sleep(0.5)
                continue
            self.written += len(batch)
            self._held.difference_update(batch.completed)
            self._held.difference_update(batch.released_ids)
            if self._on_written is not None:
                self._on_written(batch.completed + batch.released_ids)
        self._idle.set()

    def _merge_back(self, batch: _Batch) -> None:
        current = self._batch
        batch.completed += current.completed
        batch.released_ids += current.released_ids
        batch.delays += current.delays
        batch.errors += current.errors
        batch.failed += current.failed
        self._batch = batch

    async def wait_idle(self) -> None:
        await self._idle.wait()
