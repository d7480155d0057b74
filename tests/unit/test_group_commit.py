"""GroupCommit: what tasks submit while a call runs is done together in the next call."""

from __future__ import annotations

import asyncio

import pytest

from invorder.db.group_commit import GroupCommit


class Recorder:
    def __init__(self, fail_on: int | None = None) -> None:
        self.calls: list[list[int]] = []
        self.fail_on = fail_on
        self.release = asyncio.Event()

    async def __call__(self, items: list[int]) -> list[int]:
        self.calls.append(items)
        await self.release.wait()
        if self.fail_on in items:
            raise ValueError(f"cannot do {self.fail_on}")
        return [i * 10 for i in items]


def test_what_is_submitted_during_a_call_is_done_together_next() -> None:
    async def main() -> None:
        fn = Recorder()
        group = GroupCommit(fn, max_items=100)
        first = asyncio.create_task(group.submit([1]))
        await asyncio.sleep(0.01)  # the first call runs, and waits to be released
        later = [asyncio.create_task(group.submit(items)) for items in ([2, 3], [4], [5, 6])]
        await asyncio.sleep(0.01)
        fn.release.set()
        assert await first == [10]
        assert [await t for t in later] == [[20, 30], [40], [50, 60]]
        assert fn.calls == [[1], [2, 3, 4, 5, 6]]

    asyncio.run(main())


def test_max_items_cuts_a_call_but_never_splits_a_task() -> None:
    async def main() -> None:
        fn = Recorder()
        fn.release.set()
        group = GroupCommit(fn, max_items=3)
        results = await asyncio.gather(*(group.submit(items) for items in ([1, 2], [3, 4], [5], [6, 7, 8, 9])))
        assert results == [[10, 20], [30, 40], [50], [60, 70, 80, 90]]
        assert fn.calls == [[1, 2], [3, 4, 5], [6, 7, 8, 9]]

    asyncio.run(main())


def test_an_exception_reaches_only_the_tasks_whose_items_raise_it() -> None:
    async def main() -> None:
        fn = Recorder(fail_on=3)
        group = GroupCommit(fn, max_items=100)
        first = asyncio.create_task(group.submit([1]))
        await asyncio.sleep(0.01)
        innocent, failing = [asyncio.create_task(group.submit(items)) for items in ([2], [3])]
        await asyncio.sleep(0.01)
        fn.release.set()
        assert await first == [10]
        assert await innocent == [20]  # its items were tried again alone
        with pytest.raises(ValueError, match="cannot do 3"):
            await failing
        assert fn.calls == [[1], [2, 3], [2], [3]]
        assert await group.submit([4]) == [40]

    asyncio.run(main())


def test_a_task_cancelled_before_its_call_is_left_out() -> None:
    async def main() -> None:
        fn = Recorder()
        group = GroupCommit(fn, max_items=100)
        first = asyncio.create_task(group.submit([1]))
        await asyncio.sleep(0.01)
        gone = asyncio.create_task(group.submit([2]))
        kept = asyncio.create_task(group.submit([3]))
        await asyncio.sleep(0.01)
        gone.cancel()
        fn.release.set()
        assert await first == [10]
        assert await kept == [30]
        assert gone.cancelled()
        assert fn.calls == [[1], [3]]

    asyncio.run(main())
