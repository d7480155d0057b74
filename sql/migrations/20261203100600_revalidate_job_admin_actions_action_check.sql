-- migrate:up
-- Second step of 20261203100500_add_job_kind_limits: validate the wider action check under
-- SHARE UPDATE EXCLUSIVE, which lets operators' actions go on.
set local lock_timeout = '1s';
set local statement_timeout = '30s';

alter table job_admin_actions validate constraint job_admin_actions_action_check;

-- migrate:down
-- Nothing to undo: a validated constraint is the same constraint.
select 1;
