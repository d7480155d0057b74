-- migrate:up transaction:false
-- For the dashboard's "orders to ship" (orders_to_ship, sql/queries/ops.sql): the processed
-- orders with units left to ship, read from a small partial index instead of every processed
-- order. Built concurrently, alone in a file without a transaction, for the reasons given in
-- 20261201100200_add_orders_finished_at_index.sql (SHARE UPDATE EXCLUSIVE blocks neither reads
-- nor writes; a failed build leaves an INVALID index that `invorder migrate up` drops first).
-- squawk-ignore ban-concurrent-index-creation-in-transaction, require-lock-timeout, require-statement-timeout
create index concurrently if not exists orders_to_ship_idx on orders (finished_at)
where status = 'processed' and fulfillment_status <> 'fulfilled';

-- migrate:down transaction:false
drop index concurrently if exists orders_to_ship_idx;
