-- migrate:up
-- The ledger's restock rows: a nullable refund_id (no default: a catalog change) and the kind
-- restock, its check swapped NOT VALID (validated by 20261208100500).
set local lock_timeout = '1s';
set local statement_timeout = '10s';

alter table stock_movements add column refund_id bigint;
-- squawk-ignore ban-drop-constraint
alter table stock_movements drop constraint stock_movements_kind_check;
alter table stock_movements add constraint stock_movements_kind_check
check (kind in ('initial', 'set', 'adjustment', 'sale', 'import', 'removed', 'restock')) not valid;

comment on column stock_movements.kind is 'initial (POST /inventory), set (PATCH), adjustment (POST .../adjustments), sale (an order was paid), import (warehouse feed), removed (DELETE /inventory: on_hand back to 0, history kept), restock (units of a refund back on hand: order_id and refund_id say which).';
comment on column stock_movements.refund_id is 'The refund whose units a restock movement put back on hand.';

-- migrate:down
set local lock_timeout = '1s';
set local statement_timeout = '10s';

-- The down migration drops only what its up added, and puts the kind check back.
-- squawk-ignore ban-drop-column
alter table stock_movements drop column refund_id;
-- squawk-ignore ban-drop-constraint
alter table stock_movements drop constraint stock_movements_kind_check;
alter table stock_movements add constraint stock_movements_kind_check
check (kind in ('initial', 'set', 'adjustment', 'sale', 'import', 'removed')) not valid;
