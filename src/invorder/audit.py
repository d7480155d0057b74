"""Who made a change, as audit rows record it (stock_movements.actor, order_logs.actor, job admin
actions): an API key's `Principal.actor` (`key:<id>`, or `admin`), or one of these."""

WORKER = "worker"  # a worker process: reservations, payments, sales
SYSTEM = "system"  # the stock import feed
