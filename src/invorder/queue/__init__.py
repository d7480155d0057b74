"""A general PostgreSQL job queue: enqueue, claim with SKIP LOCKED, leases, retry and backoff.
It knows jobs and kinds, never orders; domain packages register handlers with it."""

from invorder.queue.jobs import (
    CHANNEL,
    Complete,
    Job,
    JobContext,
    Outcome,
    Snooze,
    backoff_s,
    enqueue,
    enqueue_many,
    enqueue_unique,
    notify_workers,
)
from invorder.queue.registry import BatchHandler, Handler, Registry

__all__ = [
    "CHANNEL",
    "BatchHandler",
    "Complete",
    "Handler",
    "Job",
    "JobContext",
    "Outcome",
    "Registry",
    "Snooze",
    "backoff_s",
    "enqueue",
    "enqueue_many",
    "enqueue_unique",
    "notify_workers",
]
