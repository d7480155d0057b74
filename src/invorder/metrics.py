"""Every Prometheus metric invorder exports, defined once; each process serves its own."""

from __future__ import annotations

from prometheus_client import Counter

# Queue (worker processes, on `invorder worker --metrics-port`).
JOBS_CLAIMED = Counter("invorder_jobs_claimed", "Jobs claimed by this worker.", ["kind"])
JOBS_SUCCEEDED = Counter("invorder_jobs_succeeded", "Jobs that finished (and were deleted).", ["kind"])
JOBS_SNOOZED = Counter(
    "invorder_jobs_snoozed", "Jobs put back to wait without using an attempt (e.g. waiting for stock).", ["kind"]
)
JOBS_RETRIED = Counter("invorder_jobs_retried", "Failed attempts put back for a retry after a backoff.", ["kind"])
JOBS_DEAD = Counter("invorder_jobs_dead", "Jobs that used their last attempt and went dead.", ["kind"])
JOBS_HANDED_BACK = Counter("invorder_jobs_handed_back", "Jobs handed back unfinished at shutdown.", ["kind"])

# Payments (worker processes): one count per answer (or lack of one) from the provider.
PAYMENT_OUTCOMES = Counter(
    "invorder_payment_outcomes",
    "Charge attempts by outcome: succeeded, declined, unknown (5xx, timeout, lost answer), unreachable, breaker_open.",
    ["outcome"],
)

# Webhooks (worker processes): one count per delivery attempt.
WEBHOOK_DELIVERIES = Counter(
    "invorder_webhook_deliveries",
    "Webhook delivery attempts by outcome: delivered (2xx), failed (retried), gone (410: endpoint disabled),"
    " given_up (past the retry window: endpoint disabled), refused (the address check refused the URL).",
    ["outcome"],
)

# The optional Redis cache (API processes).
CACHE_REQUESTS = Counter(
    "invorder_cache_requests",
    "Cache lookups by cache and result: hit, miss, error (Redis unset counts nothing).",
    ["cache", "result"],
)
