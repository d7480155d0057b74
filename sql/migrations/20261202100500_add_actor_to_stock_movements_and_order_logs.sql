-- migrate:up
-- Who made each change of stock and each step of an order: `key:<id>` (an API key),
-- `admin` (INVORDER_ADMIN_TOKEN), `worker`, or `system` (stock imports). Nullable and without
-- a default, so adding them is a catalog change only (no rewrite, ACCESS EXCLUSIVE for an
-- instant): the rows written before have no actor, and so do the rows an API or worker of
-- the previous version writes during the deploy.
set local lock_timeout = '1s';
set local statement_timeout = '30s';

alter table stock_movements add column actor text;
alter table order_logs add column actor text;

comment on column stock_movements.actor is 'Who made the change: key:<id>, admin, worker (sales) or system (stock imports); null before this column existed.';
comment on column order_logs.actor is 'Who made the step: key:<id> or admin (placed, cancelled through the API), worker; null before this column existed.';

-- migrate:down
set local lock_timeout = '1s';
set local statement_timeout = '30s';

-- The down migration drops only what its up added.
-- squawk-ignore ban-drop-column
alter table order_logs drop column actor;
-- squawk-ignore ban-drop-column
alter table stock_movements drop column actor;
