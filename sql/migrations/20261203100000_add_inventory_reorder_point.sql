-- migrate:up
-- Low-stock alerts: the level at or below which a product's available stock counts as low
-- (inventory.low_stock, GET /inventory?below_reorder_point=true). Nullable without a default,
-- so adding it is a catalog change only (ACCESS EXCLUSIVE for an instant, no rewrite); the
-- check is NOT VALID here, so nothing is scanned under that lock, and the next migration
-- validates it under SHARE UPDATE EXCLUSIVE while writes go on.
set local lock_timeout = '1s';
set local statement_timeout = '10s';

alter table inventory add column reorder_point bigint;
alter table inventory add constraint inventory_reorder_point_check check (reorder_point >= 0) not valid;

comment on column inventory.reorder_point is 'Set by PATCH /inventory/{product_id}: available at or below it is low stock (inventory.low_stock once per crossing); null: no alert but out_of_stock.';

-- migrate:down
set local lock_timeout = '1s';
set local statement_timeout = '10s';

-- The down migration drops only what its up added.
-- squawk-ignore ban-drop-column
alter table inventory drop column reorder_point;
