-- migrate:up
-- Stock in several locations, expand step 3: ledger rows name their location. Nullable with no
-- default (a catalog change): rows written before, and by the previous version, have none and
-- count at `default` (id 1).
set local lock_timeout = '1s';
set local statement_timeout = '10s';

alter table stock_movements add column location_id bigint;

comment on column stock_movements.location_id is 'The stock level''s location; null: written before locations, or by a version without them, at default (id 1).';

-- migrate:down
set local lock_timeout = '1s';
set local statement_timeout = '10s';

-- The down migration drops only what its up added.
-- squawk-ignore ban-drop-column
alter table stock_movements drop column location_id;
