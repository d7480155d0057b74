-- migrate:up
-- What operators and DBAs need to run the queue: a `cancelled` job status, a record of every
-- operator action, a heartbeat row per worker process, per-minute throughput, and views that
-- answer "what is stuck, what failed and why, how deep is each queue" in plain SQL.
-- Additive only: code of the previous version never writes `cancelled` and never reads the new
-- tables, so old and new versions run side by side. The one lock on an existing table (jobs, to
-- swap its status check) is ACCESS EXCLUSIVE for an instant, bounded by lock_timeout; the next
-- migration validates the new check outside this transaction.
set local lock_timeout = '2s';
set local statement_timeout = '30s';

-- The new check is added NOT VALID (no scan under the lock; new writes are checked at once);
-- 20261201100100 validates it under SHARE UPDATE EXCLUSIVE, which claims and completions pass.
-- squawk-ignore ban-drop-constraint
alter table jobs drop constraint jobs_status_check;
alter table jobs add constraint jobs_status_check
check (status in ('ready', 'running', 'dead', 'cancelled')) not valid;

comment on column jobs.status is 'ready: waiting for run_after; running: leased by lease_owner until lease_expires_at; dead: attempts exhausted, waits for an operator to retry or cancel; cancelled: an operator gave it up (kept until purged). Finished jobs are deleted at once.';

create table job_admin_actions (
    id bigint generated always as identity primary key,
    acted_at timestamptz not null default now(),
    actor text not null,
    action text not null check (action in ('retry', 'cancel', 'purge')),
    job_ids bigint[] not null default '{}',
    affected integer not null check (affected >= 0),
    details jsonb not null default '{}'
);

comment on table job_admin_actions is 'Every operator action on jobs (retry, cancel, purge): who, when, which jobs, how many changed. Append-only.';
comment on column job_admin_actions.actor is 'Who acted: user@host for the CLI, api:<client address> (or the X-Actor header) for the ops API.';
comment on column job_admin_actions.job_ids is 'The ids asked for (empty for a purge).';
comment on column job_admin_actions.affected is 'Jobs the action changed (asked-for jobs in another state are left alone).';
comment on column job_admin_actions.details is 'The action''s arguments, e.g. {"older_than_s": 604800, "statuses": ["dead"]}.';

create table queue_workers (
    worker_id text primary key,
    started_at timestamptz not null default now(),
    last_seen_at timestamptz not null default now(),
    kinds text[] not null,
    concurrency integer not null check (concurrency >= 1),
    jobs_in_hand integer not null default 0 check (jobs_in_hand >= 0),
    jobs_done bigint not null default 0,
    jobs_failed bigint not null default 0,
    stopped_at timestamptz
);

create index queue_workers_last_seen_idx on queue_workers (last_seen_at);

comment on table queue_workers is 'One row per worker process, written by its heartbeat (every few seconds). A worker not seen for a minute is gone; rows older than a day are deleted by the workers.';
comment on column queue_workers.worker_id is 'host:pid:random, the same as jobs.lease_owner of the jobs it holds.';
comment on column queue_workers.last_seen_at is 'Its latest heartbeat.';
comment on column queue_workers.jobs_in_hand is 'Jobs it was running at its latest heartbeat.';
comment on column queue_workers.jobs_done is 'Jobs it finished since it started.';
comment on column queue_workers.jobs_failed is 'Attempts that raised an error since it started (retried or dead).';
comment on column queue_workers.stopped_at is 'When it stopped cleanly (null while running, or if it died).';

create table job_throughput (
    minute timestamptz not null,
    kind text not null,
    done bigint not null default 0,
    failed bigint not null default 0,
    dead bigint not null default 0,
    primary key (minute, kind)
);

comment on table job_throughput is 'Jobs finished, failed and gone dead per kind and minute, summed over all workers (each adds what it saw since its previous heartbeat). Kept one day.';
comment on column job_throughput.minute is 'Start of the minute (date_trunc(''minute'', ...)).';
comment on column job_throughput.done is 'Jobs completed (and deleted) in that minute.';
comment on column job_throughput.failed is 'Attempts that raised an error in that minute (each retried or dead).';
comment on column job_throughput.dead is 'Jobs that used their last attempt in that minute.';

create view queue_depth as
select
    kind,
    count(*) filter (where status = 'ready' and run_after <= now()) as ready,
    count(*) filter (where status = 'ready' and run_after > now()) as scheduled,
    count(*) filter (where status = 'running') as running,
    count(*) filter (where status = 'dead') as dead,
    count(*) filter (where status = 'cancelled') as cancelled,
    coalesce(
        extract(epoch from now() - min(run_after) filter (where status = 'ready' and run_after <= now())),
        0
    )::float8 as oldest_ready_age_s
from jobs
group by kind;

comment on view queue_depth is 'How deep each queue is: per kind, jobs ready now, scheduled for later (run_after in the future), running, dead and cancelled, and the lag: how long the oldest ready job has been waiting past its run_after (0 when none waits).';

create view stuck_jobs as
select
    id,
    kind,
    status,
    case
        when status = 'running' and lease_expires_at < now() then 'lease expired: its worker stopped renewing it'
        when status = 'running' then 'running for over 5 minutes'
        else 'ready for over a minute and not claimed: are workers running for this kind?'
    end as reason,
    lease_owner,
    attempts,
    max_attempts,
    run_after,
    lease_expires_at,
    updated_at,
    extract(epoch from now() - case when status = 'running' then updated_at else run_after end)::float8 as stuck_for_s,
    last_error
from jobs
where
    (status = 'running' and (lease_expires_at < now() or updated_at < now() - interval '5 minutes'))
    or (status = 'ready' and run_after < now() - interval '1 minute');

comment on view stuck_jobs is 'Jobs that are not moving: running past their lease (a dead worker: they are rescued within seconds by any live worker), running for over 5 minutes, or ready for over a minute without a worker claiming them.';

create view dead_jobs as
select
    id,
    kind,
    payload,
    attempts,
    max_attempts,
    last_error,
    created_at,
    updated_at as died_at
from jobs
where status = 'dead';

comment on view dead_jobs is 'Jobs that used every attempt, with the error of the last one. `invorder jobs retry ID` (or POST /api/v1/ops/jobs/retry) runs one again; `invorder jobs cancel ID` gives it up.';

create view order_pipeline as
select
    status,
    count(*) as orders,
    min(created_at) as oldest_created_at,
    extract(epoch from now() - min(created_at))::float8 as oldest_age_s,
    count(*) filter (where created_at > now() - interval '1 hour') as created_last_hour,
    count(*) filter (where finished_at > now() - interval '1 hour') as finished_last_hour
from orders
group by status;

comment on view order_pipeline is 'Orders by status: how many, the oldest, and how many were placed and finished in the last hour. Pending and reserved orders are in flight; processed, failed and cancelled are final.';

-- migrate:down
set local lock_timeout = '2s';
set local statement_timeout = '30s';

-- The down migration drops only what its up created.
-- squawk-ignore ban-drop-view
drop view order_pipeline;
-- squawk-ignore ban-drop-view
drop view dead_jobs;
-- squawk-ignore ban-drop-view
drop view stuck_jobs;
-- squawk-ignore ban-drop-view
drop view queue_depth;
-- squawk-ignore ban-drop-table
drop table job_throughput;
-- squawk-ignore ban-drop-table
drop table queue_workers;
-- squawk-ignore ban-drop-table
drop table job_admin_actions;
-- The previous version knows no cancelled jobs: they go dead, where an operator can see them.
update jobs set status = 'dead'
where status = 'cancelled';
-- squawk-ignore ban-drop-constraint
alter table jobs drop constraint jobs_status_check;
alter table jobs add constraint jobs_status_check check (status in ('ready', 'running', 'dead')) not valid;
