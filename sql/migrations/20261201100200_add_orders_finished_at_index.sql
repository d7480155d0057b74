-- migrate:up transaction:false
-- For the dashboard's "orders finished per minute" (sql/queries/dashboard.sql): the orders that
-- reached a final status in the last minutes, read by range on finished_at instead of a scan of
-- every order. Partial: orders in flight (finished_at null) are not in it.
-- Built concurrently, so it takes SHARE UPDATE EXCLUSIVE on orders, which blocks neither reads
-- nor writes (nor claims); alone in a file without a transaction, since dbmate sends a file as
-- one string and CONCURRENTLY is refused in the implicit transaction of a multi-statement
-- string: so no `set lock_timeout` here (waiting for this lock queues no traffic behind it).
-- A build that fails half-way leaves an INVALID index that `invorder migrate up` drops before
-- it runs this file again (docs/migrations.md).
-- squawk reads every file as if in a transaction (.squawk.toml) and asks for timeouts that this
-- one statement cannot set; both are explained above.
-- squawk-ignore ban-concurrent-index-creation-in-transaction, require-lock-timeout, require-statement-timeout
create index concurrently if not exists orders_finished_at_idx on orders (finished_at)
where finished_at is not null;

-- migrate:down transaction:false
drop index concurrently if exists orders_finished_at_idx;
