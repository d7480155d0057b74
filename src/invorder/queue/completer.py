"""The completer: buffers what handlers decided about their jobs and writes it in batches, each write
conditional on the job's lease and server run (docs/design.md, "Leases" in section 3, and section 6)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import psycopg

from invorder import db
from invorder.db.queries import queries

log = logging.getLogger(__name__)
Q = queries()

RUN_AGAIN = "claimed before the database server restarted or failed over: run again (what it wrote may be lost)"


@dataclass
class _Batch:
    # Finished jobs by the server run that granted their claim (one, but for a restart or
    # failover in the middle of a batch).
    completed: dict[int, list[int]] = field(default_factory=dict)
    released_ids: list[int] = field(default_factory=list)
    delays: list[float] = field(default_factory=list)
    errors: list[str | None] = field(default_factory=list)
    failed: list[bool] = field(default_factory=list)

    def __len__(self) -> int:
        return sum(map(len, self.completed.values())) + len(self.released_ids)


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

    def complete(self, job_id: int, *, server_run: int) -> None:
        """Delete the job, if the server run that granted its claim (`Job.server_run`) is still
        the one answering; else put it back to run again."""
        self._batch.completed.setdefault(server_run, []).append(job_id)
        self._wake()

    def release(self, job_id: int, *, delay_s: float, error: str | None, failed: bool) -> None:
        b = self._batch
        b.released_ids.append(job_id)
        b.delays.append(float(delay_s))  # one type for the whole list: psycopg dumps no mixed list
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
            not_deleted: list[int] = []
            try:
                # One statement is its own transaction (one round trip); more share one.
                several = len(batch.completed) + bool(batch.released_ids) > 1
                async with self._writing, (db.transaction if several else db.single_statement)(self._pool) as conn:
                    for run, ids in batch.completed.items():
                        deleted = await db.execute(conn, Q.complete_jobs, ids=ids, owner=self._owner, server_run=run)
                        if deleted < len(ids):
                            not_deleted += ids
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
            completed = [job_id for ids in batch.completed.values() for job_id in ids]
            if not_deleted:
                # Some lease ran out (the job is another worker's now, and the release below
                # leaves it alone), or the server restarted or failed over since the claim:
                # those still held go back to run again, in the next round of this loop.
                log.warning(
                    "not all of %d finished jobs were deleted: a lease ran out, or a job was %s",
                    len(not_deleted),
                    RUN_AGAIN,
                )
                for job_id in not_deleted:
                    self.release(job_id, delay_s=0, error=RUN_AGAIN, failed=False)
                gone = set(not_deleted)
                completed = [job_id for job_id in completed if job_id not in gone]
            self.written += len(completed) + len(batch.released_ids)
            self._held.difference_update(completed)
            self._held.difference_update(batch.released_ids)
            if self._on_written is not None:
                self._on_written(completed + batch.released_ids)
        self._idle.set()

    def _merge_back(self, batch: _Batch) -> None:
        current = self._batch
        for server_run, ids in current.completed.items():
            batch.completed.setdefault(server_run, []).extend(ids)
        batch.released_ids += current.released_ids
        batch.delays += current.delays
        batch.errors += current.errors
        batch.failed += current.failed
        self._batch = batch

    async def wait_idle(self) -> None:
        await self._idle.wait()
