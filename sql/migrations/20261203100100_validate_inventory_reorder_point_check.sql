-- migrate:up
-- Contract step of the reorder point: validating scans the table under SHARE UPDATE
-- EXCLUSIVE, which lets reads and writes go on.
set local lock_timeout = '1s';
set local statement_timeout = '5min';

alter table inventory validate constraint inventory_reorder_point_check;

-- migrate:down
-- Nothing to undo: a validated constraint is the same constraint.
select 1;
