"""Which handler runs which kind of job: one job at a time, or a batch of jobs of one kind."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from invorder.queue.jobs import Job, JobContext, Outcome

Handler = Callable[[Job, JobContext], Awaitable[Outcome]]
# Gets up to `max_batch` claimed jobs of its kind and answers one outcome per job, in order.
BatchHandler = Callable[[Sequence[Job], JobContext], Awaitable[Sequence[Outcome]]]


@dataclass(frozen=True, slots=True)
class BatchKind:
    handler: BatchHandler
    max_batch: int


class Registry:
    """Kinds to handlers. A worker claims only the kinds it has a handler for."""

    def __init__(self) -> None:
        self._handlers: dict[str, Handler] = {}
        self._batches: dict[str, BatchKind] = {}

    def register(self, kind: str, handler: Handler) -> None:
        self._check_new(kind)
        self._handlers[kind] = handler

    def register_batch(self, kind: str, handler: BatchHandler, *, max_batch: int) -> None:
        """Jobs of `kind` go to `handler` in batches of at most `max_batch`, made of what one
        claim brought: a batch never waits to fill up, so batching adds no latency. One job's
        outcome does not decide another's; an exception from the handler retries every job of
        the batch with its normal backoff."""
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self._check_new(kind)
        self._batches[kind] = BatchKind(handler, max_batch)

    def _check_new(self, kind: str) -> None:
        if kind in self._handlers or kind in self._batches:
            raise ValueError(f"a handler for {kind!r} is registered already")

    def handler(self, kind: str) -> Handler:
        return self._handlers[kind]

    def batch(self, kind: str) -> BatchKind | None:
        """The batch handler of `kind`, or None when its jobs run one at a time."""
        return self._batches.get(kind)

    @property
    def kinds(self) -> list[str]:
        return sorted([*self._handlers, *self._batches])
