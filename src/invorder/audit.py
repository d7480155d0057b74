"""Who made a change, as audit rows (stock_movements.actor, order_logs.actor, job admin
actions) record it: an API key's `Principal.actor` (`key:<id>`, or `admin` for
INVORDER_ADMIN_TOKEN), or one of these."""

WORKER = "worker"  # a worker process: reservations, payments, sales
SYSTEM = "system"  # the stock import feed
