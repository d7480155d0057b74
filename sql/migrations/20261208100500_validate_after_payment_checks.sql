-- migrate:up
-- Contract step of 20261208100000 to 20261208100300: validating scans each table under SHARE UPDATE EXCLUSIVE,
-- which lets reads and writes go on.
set local lock_timeout = '1s';
set local statement_timeout = '5min';

alter table orders validate constraint orders_refunded_cents_check;
alter table orders validate constraint orders_refund_status_check;
alter table orders validate constraint orders_fulfillment_status_check;
alter table order_items validate constraint order_items_after_payment_check;
alter table stock_movements validate constraint stock_movements_kind_check;
alter table api_keys validate constraint api_keys_scopes_check;

-- migrate:down
-- Nothing to undo: a validated constraint is the same constraint.
select 1;
