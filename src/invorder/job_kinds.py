"""The kinds of job invorder's workers run: the ones `jobs pause` and the ops API know even
before any job or worker of that kind exists (a test keeps this in step with the registry)."""

from __future__ import annotations

INVORDER_JOB_KINDS = ("deliver_webhook", "process_order", "process_refund", "prune_events", "reconcile")
