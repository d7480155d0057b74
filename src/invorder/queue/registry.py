"""Which handler runs which kind of job."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from invorder.queue.jobs import Job, JobContext, Outcome

Handler = Callable[[Job, JobContext], Awaitable[Outcome]]


class Registry:
    """Kinds to handlers. A worker claims only the kinds it has a handler for."""

    def __init__(self) -> None:
        self._handlers: dict[str, Handler] = {}

    def register(self, kind: str, handler: Handler) -> None:
        if kind in self._handlers:
            raise ValueError(f"a handler for {kind!r} is registered already")
        self._handlers[kind] = handler

    def handler(self, kind: str) -> Handler:
        return self._handlers[kind]

    @property
    def kinds(self) -> list[str]:
        return sorted(self._handlers)
