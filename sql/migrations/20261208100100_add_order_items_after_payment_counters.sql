-- migrate:up
-- After payment, on order_items: units shipped, refunded, cancelled and returned, each with a
-- constant default, and invariant 8 as a NOT VALID check (validated by 20261208100500).
set local lock_timeout = '1s';
set local statement_timeout = '10s';

alter table order_items add column fulfilled_quantity integer not null default 0;
alter table order_items add column refunded_quantity integer not null default 0;
alter table order_items add column cancelled_quantity integer not null default 0;
alter table order_items add column returned_quantity integer not null default 0;
-- Invariant 8, kept by the database itself whatever writes the rows.
alter table order_items add constraint order_items_after_payment_check
check (
    fulfilled_quantity >= 0 and refunded_quantity >= 0 and cancelled_quantity >= 0 and returned_quantity >= 0
    and refunded_quantity <= quantity
    and fulfilled_quantity + cancelled_quantity <= quantity
    and returned_quantity <= fulfilled_quantity
) not valid;

comment on column order_items.fulfilled_quantity is 'Units shipped (sum of its fulfillment_items).';
comment on column order_items.refunded_quantity is 'Units in refunds that are not failed.';
comment on column order_items.cancelled_quantity is 'Units refunded with restock cancel: they will not ship and went back on hand. Kept when their refund fails (never restocked twice).';
comment on column order_items.returned_quantity is 'Units refunded with restock return: shipped, came back, went back on hand. Kept when their refund fails.';

-- migrate:down
set local lock_timeout = '1s';
set local statement_timeout = '10s';

-- The down migration drops only what its up added.
-- squawk-ignore ban-drop-column
alter table order_items drop column returned_quantity;
-- squawk-ignore ban-drop-column
alter table order_items drop column cancelled_quantity;
-- squawk-ignore ban-drop-column
alter table order_items drop column refunded_quantity;
-- squawk-ignore ban-drop-column
alter table order_items drop column fulfilled_quantity;
