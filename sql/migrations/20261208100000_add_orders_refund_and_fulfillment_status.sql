-- migrate:up
-- After payment (docs/migrations.md, "After payment"), on orders: what was refunded and shipped.
-- Constant defaults (a catalog change: no rewrite, no scan) and NOT VALID checks (validated by
-- 20261208100500 while writes go on), under an instant ACCESS EXCLUSIVE bounded by
-- lock_timeout. One hot table per file: a file holds its locks until it commits. The previous
-- version names its columns and never reads these, so both versions run side by side.
set local lock_timeout = '1s';
set local statement_timeout = '10s';

alter table orders add column refunded_cents bigint not null default 0;
alter table orders add column refund_status text not null default 'none';
alter table orders add column fulfillment_status text not null default 'unfulfilled';
alter table orders add constraint orders_refunded_cents_check
check (refunded_cents >= 0 and refunded_cents <= total_cents) not valid;
alter table orders add constraint orders_refund_status_check
check (refund_status in ('none', 'partially_refunded', 'refunded')) not valid;
alter table orders add constraint orders_fulfillment_status_check
check (fulfillment_status in ('unfulfilled', 'partially_fulfilled', 'fulfilled')) not valid;

comment on column orders.refunded_cents is 'Sum of the order''s succeeded refunds.';
comment on column orders.refund_status is 'none, partially_refunded, or refunded (refunded_cents = total_cents).';
comment on column orders.fulfillment_status is 'unfulfilled (no unit shipped), partially_fulfilled (some shipped, some left to ship), fulfilled (some shipped, none left: quantity = fulfilled + cancelled for every item).';

-- migrate:down
set local lock_timeout = '1s';
set local statement_timeout = '10s';

-- The down migration drops only what its up added.
-- squawk-ignore ban-drop-column
alter table orders drop column fulfillment_status;
-- squawk-ignore ban-drop-column
alter table orders drop column refund_status;
-- squawk-ignore ban-drop-column
alter table orders drop column refunded_cents;
