-- migrate:up transaction:false
-- Idempotency keys become per client (SPEC.md, Access): two clients may use the same key. This
-- unique index is what `place_order`'s `on conflict (client_id, idempotency_key)` needs; the
-- old index on the key alone stays until no API of the previous version runs (its inserts
-- name it), and a later migration drops it. Built concurrently (SHARE UPDATE EXCLUSIVE: reads
-- and writes go on), alone in its file; see 20261201100200 for why no timeouts are set here.
-- squawk-ignore ban-concurrent-index-creation-in-transaction, require-lock-timeout, require-statement-timeout
create unique index concurrently if not exists orders_client_idempotency_key_key
on orders (client_id, idempotency_key);

-- migrate:down transaction:false
drop index concurrently if exists orders_client_idempotency_key_key;
