-- migrate:up
-- Limit a job kind's jobs running at once across every worker (incident lever: `invorder jobs
-- limit KIND N`), the sibling of pausing it: a limited kind is left out of the main claim and
-- taken by a second claim that counts the kind's running jobs under an advisory lock, so the
-- limit is never overshot; the limit outlives every process. A new table, and the action log
-- learns two actions: its check is swapped for a wider one NOT VALID (every row there passes
-- the old, narrower one; the next migration validates it). Dropping the old check takes ACCESS
-- EXCLUSIVE on job_admin_actions for an instant: only operators write to it.
set local lock_timeout = '1s';
set local statement_timeout = '10s';

create table job_kind_limits (
    kind text primary key,
    max_running integer not null check (max_running > 0),
    set_at timestamptz not null default now(),
    set_by text not null
);

comment on table job_kind_limits is 'Job kinds with at most max_running jobs running at once across every worker (invorder jobs limit KIND N, PUT /ops/kinds/{kind}/limit); jobs running when a limit is set or lowered finish. Delete the row to lift the limit.';
comment on column job_kind_limits.max_running is 'Most jobs of the kind running at once (leased: jobs.lease_expires_at is not null), all workers together.';
comment on column job_kind_limits.set_by is 'Who set the limit: user@host for the CLI, key:<id> or admin (and X-Actor) for the ops API.';

-- The wider check replaces it in the same transaction: no moment without one.
-- squawk-ignore ban-drop-constraint
alter table job_admin_actions drop constraint job_admin_actions_action_check;
alter table job_admin_actions add constraint job_admin_actions_action_check
check (action in ('retry', 'cancel', 'purge', 'pause', 'resume', 'limit', 'unlimit')) not valid;

-- migrate:down
set local lock_timeout = '1s';
set local statement_timeout = '10s';

delete from job_admin_actions
where action in ('limit', 'unlimit');
-- squawk-ignore ban-drop-constraint
alter table job_admin_actions drop constraint job_admin_actions_action_check;
alter table job_admin_actions add constraint job_admin_actions_action_check
check (action in ('retry', 'cancel', 'purge', 'pause', 'resume')) not valid;
-- The down migration drops only what its up created.
-- squawk-ignore ban-drop-table
drop table job_kind_limits;
