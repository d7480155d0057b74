-- migrate:up
set local lock_timeout = '5s';
set local statement_timeout = '30s';

create table jobs (
    id bigint generated always as identity primary key,
    kind text not null,
    payload jsonb not null default '{}',
    status text not null default 'ready' check (status in ('ready', 'running', 'dead')),
    priority smallint not null default 100,
    run_after timestamptz not null default now(),
    attempts integer not null default 0 check (attempts >= 0),
    max_attempts integer not null default 10 check (max_attempts >= 1),
    lease_owner text,
    lease_expires_at timestamptz,
    last_error text,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    constraint jobs_lease_when_running check (
        (status = 'running') = (lease_owner is not null and lease_expires_at is not null)
    )
) with (
    fillfactor = 70,
    autovacuum_vacuum_scale_factor = 0.01,
    autovacuum_vacuum_cost_limit = 2000,
    autovacuum_analyze_scale_factor = 0.02
);

-- Serves the claim exactly: ready jobs in (priority, run_after, id) order.
create index jobs_claim_idx on jobs (priority, run_after, id) where status = 'ready';
-- Serves the rescue of expired leases.
create index jobs_lease_idx on jobs (lease_expires_at) where status = 'running';
create index jobs_dead_idx on jobs (kind, updated_at) where status = 'dead';

comment on table jobs is 'The job queue. A row is a job waiting (ready), in hand (running) or given up (dead). Finished jobs are deleted at once, so the table only holds work not done.';
comment on column jobs.kind is 'Which handler runs it, e.g. process_order.';
comment on column jobs.payload is 'The handler''s arguments, e.g. {"order_id": 42}.';
comment on column jobs.status is 'ready: waiting for run_after; running: leased by lease_owner until lease_expires_at; dead: attempts exhausted, waits for an operator to retry or discard.';
comment on column jobs.priority is 'Lower runs first.';
comment on column jobs.run_after is 'Not claimed before this time; retries push it out by an exponential backoff with jitter.';
comment on column jobs.attempts is 'Times the job was claimed and did not finish (a snooze, such as waiting for stock, does not count).';
comment on column jobs.max_attempts is 'After this many failed attempts the job goes to dead.';
comment on column jobs.lease_owner is 'The worker (host:pid:uuid) holding the job while running.';
comment on column jobs.lease_expires_at is 'The holder renews it while it runs; past it, the job is rescued and run again.';
comment on column jobs.last_error is 'The error of the latest failed attempt.';

-- migrate:down
-- The down migration drops only what its up created.
-- squawk-ignore ban-drop-table
drop table jobs;
