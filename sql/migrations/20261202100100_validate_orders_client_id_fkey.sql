-- migrate:up
-- Contract step for the foreign key 20261202100000 added NOT VALID: the scan of existing
-- orders runs under SHARE UPDATE EXCLUSIVE, which blocks neither reads nor writes.
set local lock_timeout = '1s';
set local statement_timeout = '10min';

alter table orders validate constraint orders_client_id_fkey;

-- migrate:down
-- Nothing to undo: a validated constraint is the same constraint.
select 1;
