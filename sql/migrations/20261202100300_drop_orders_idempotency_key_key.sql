-- migrate:up transaction:false
-- Contract step of per-client idempotency keys: the unique index on the key alone would still
-- refuse a second client's order with a key the first used. Dropped concurrently (no lock that
-- blocks reads or writes), alone in its file. An API of the version before 20261202100000
-- names this index in its `on conflict (idempotency_key)`: during a deploy its keyed POST
-- /orders fail until it is replaced (docs/migrations.md), its other requests are unaffected.
-- squawk-ignore ban-concurrent-index-creation-in-transaction, require-lock-timeout, require-statement-timeout
drop index concurrently if exists orders_idempotency_key_key;

-- migrate:down transaction:false
-- squawk-ignore ban-concurrent-index-creation-in-transaction
create unique index concurrently if not exists orders_idempotency_key_key on orders (idempotency_key);
