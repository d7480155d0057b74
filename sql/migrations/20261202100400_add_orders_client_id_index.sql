-- migrate:up transaction:false
-- A client's keyset pages of GET /orders (`where client_id = $1 and id > $2 order by id`) read
-- by range instead of scanning every client's orders. Built concurrently (SHARE UPDATE
-- EXCLUSIVE: reads and writes go on), alone in its file; see 20261201100200 for why no
-- timeouts are set here.
-- squawk-ignore ban-concurrent-index-creation-in-transaction, require-lock-timeout, require-statement-timeout
create index concurrently if not exists orders_client_id_id_idx on orders (client_id, id);

-- migrate:down transaction:false
drop index concurrently if exists orders_client_id_id_idx;
