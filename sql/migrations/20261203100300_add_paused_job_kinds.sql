-- migrate:up
-- Pause and resume a job kind (incident lever: `invorder jobs pause KIND`): a paused kind is
-- claimed by no worker, and the pause outlives every process. A new table, and the action log
-- learns two actions: its check is swapped for a wider one NOT VALID (the rows already there
-- all pass the old, narrower one; the next migration validates it). Dropping the old check
-- takes ACCESS EXCLUSIVE on job_admin_actions for an instant: only operators write to it.
set local lock_timeout = '1s';
set local statement_timeout = '10s';

create table paused_job_kinds (
    kind text primary key,
    paused_at timestamptz not null default now(),
    paused_by text not null
);

comment on table paused_job_kinds is 'Job kinds no worker claims (invorder jobs pause KIND, POST /ops/kinds/{kind}/pause); jobs already running finish. Delete the row to resume.';

-- The wider check replaces it in the same transaction: no moment without one.
-- squawk-ignore ban-drop-constraint
alter table job_admin_actions drop constraint job_admin_actions_action_check;
alter table job_admin_actions add constraint job_admin_actions_action_check
check (action in ('retry', 'cancel', 'purge', 'pause', 'resume')) not valid;

-- migrate:down
set local lock_timeout = '1s';
set local statement_timeout = '10s';

delete from job_admin_actions
where action in ('pause', 'resume');
-- squawk-ignore ban-drop-constraint
alter table job_admin_actions drop constraint job_admin_actions_action_check;
alter table job_admin_actions add constraint job_admin_actions_action_check
check (action in ('retry', 'cancel', 'purge')) not valid;
-- The down migration drops only what its up created.
-- squawk-ignore ban-drop-table
drop table paused_job_kinds;
