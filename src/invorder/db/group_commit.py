"""Group commit: work that many tasks submit, done together, the way a database flushes the WAL of
every transaction that committed during the previous flush."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar


def always(exc: Exception) -> bool:
    return True


T = TypeVar("T")
R = TypeVar("R")


class GroupCommit(Generic[T, R]):
    """`submit(items)` answers `fn`'s results for those items, from a call of `fn` on the
    items of every task that submitted while the previous call ran (at most `max_items`,
    unless one task's items alone are more). `fn` answers one result per item, in order. When
    a call of several tasks' items raises an exception `retry_alone` accepts (by default any),
    each task's items are tried again alone, so the exception reaches only the tasks whose own
    items raise it; any other exception reaches every task of the call (for one that may have
    left the call's work done, such as a connection lost around a commit). The items of a
    task cancelled before its call began are left out; after, the call goes on without it."""

    def __init__(
        self,
        fn: Callable[[list[T]], Awaitable[list[R]]],
        *,
        max_items: int,
        retry_alone: Callable[[Exception], bool] = always,
    ) -> None:
        self._fn = fn
        self._max_items = max_items
        self._retry_alone = retry_alone
        self._queue: deque[tuple[list[T], asyncio.Future[list[R]]]] = deque()
        self._drainer: asyncio.Task[None] | None = None

    async def submit(self, items: list[T]) -> list[R]:
        if not items:
            return []
        future: asyncio.Future[list[R]] = asyncio.get_running_loop().create_future()
        self._queue.append((items, future))
        if self._drainer is None or self._drainer.done():
            self._drainer = asyncio.create_task(self._drain())
        return await future

    async def _call(self, items: list[T]) -> list[R]:
        results = await self._fn(items)
        if len(results) != len(items):
            raise RuntimeError(f"group commit answered {len(results)} results for {len(items)} items")
        return results

    async def _alone(self, items: list[T], future: asyncio.Future[list[R]]) -> None:
        if future.done():  # its task was cancelled meanwhile
            return
        try:
            results = await self._call(items)
        except Exception as exc:
            if not future.done():
                future.set_exception(exc)
            return
        if not future.done():
            future.set_result(results)

    async def _drain(self) -> None:
        taken: list[tuple[list[T], asyncio.Future[list[R]]]] = []
        try:
            while self._queue:
                taken, count = [], 0
                while self._queue and (not taken or count + len(self._queue[0][0]) <= self._max_items):
                    items, future = self._queue.popleft()
                    if not future.done():  # else its task was cancelled: nobody waits for it
                        taken.append((items, future))
                        count += len(items)
                if not taken:
                    continue
                try:
                    results = await self._call([item for items, _ in taken for item in items])
                except Exception as exc:
                    if len(taken) == 1 or not self._retry_alone(exc):
                        for _, future in taken:
                            if not future.done():
                                future.set_exception(exc)
                    else:  # whose items failed it? Each task's alone, so one cannot fail the others
                        for items, future in taken:
                            await self._alone(items, future)
                    taken = []
                    continue
                start = 0
                for items, future in taken:
                    if not future.done():
                        future.set_result(results[start : start + len(items)])
                    start += len(items)
                taken = []
        finally:  # cancelled (the worker is stopping): nobody is left waiting for an answer
            for _, future in [*taken, *self._queue]:
                future.cancel()
            self._queue.clear()
