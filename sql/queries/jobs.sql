-- name: enqueue_job :one
-- Adds one job inside the caller's transaction and wakes listening workers; both take effect
-- when that transaction commits.
with job as (
    insert into jobs (kind, payload, priority, run_after, max_attempts)
    values (
        %(kind)s,
        %(payload)s,
        %(priority)s,
        coalesce(%(run_after)s::timestamptz, now()),
        %(max_attempts)s
    )
    returning id
)

select
    job.id,
    pg_notify(%(channel)s, %(kind)s) as notified
from job;

-- name: enqueue_jobs :execrows
-- Adds many jobs of one kind in one statement (payloads as a json array).
insert into jobs (kind, payload, priority, max_attempts)
select
    %(kind)s as kind,
    p.payload,
    %(priority)s as priority,
    %(max_attempts)s as max_attempts
from jsonb_array_elements(%(payloads)s::jsonb) as p (payload);

-- name: notify_jobs :exec
-- Wakes listening workers once the transaction commits (one notification per transaction).
select pg_notify(%(channel)s, %(kind)s);

-- name: claim_jobs :many
-- Leases up to `limit` ready jobs to `owner`. SKIP LOCKED lets any number of workers claim at
-- once without waiting on each other; the materialized CTE keeps the update to exactly the
-- rows chosen (jobs_claim_idx serves the order). Kinds an operator paused (paused_job_kinds)
-- are left out, and so are kinds with a limit (job_kind_limits), which only
-- claim_limited_jobs takes: the worker's kinds minus those, worked out once per claim.
with next_jobs as materialized (
    select id
    from jobs
    where
        status = 'ready'
        and run_after <= now()
        and kind = any(array(
            select k.kind from unnest(%(kinds)s::text[]) as k (kind)
            except
            select p.kind from paused_job_kinds as p
            except
            select l.kind from job_kind_limits as l
        ))
    order by priority, run_after, id
    limit %(limit)s
    for update skip locked
)

update jobs as j
set
    status = 'running',
    attempts = j.attempts + 1,
    lease_owner = %(owner)s,
    lease_expires_at = now() + make_interval(secs => %(lease_s)s),
    updated_at = now()
from next_jobs
where j.id = next_jobs.id
returning
    j.id,
    j.kind,
    j.payload,
    j.priority,
    j.attempts,
    j.max_attempts,
    j.created_at,
    server_run() as server_run; -- the server run that granted the claim (see complete_jobs)

-- name: lock_job_kind_limits :exec
-- First statement of a limited claim: takes the limit lock of each of `kinds` (the worker's
-- limited kinds), held until commit, so limited claims of one kind run one after the other.
-- Always in kind order, so two claimers never wait on each other in a cycle: PostgreSQL
-- evaluates a volatile function of the select list after the sort (explain verbose shows the
-- Result above the Sort).
select pg_advisory_xact_lock(hashtextextended('invorder.jobs.limit:' || k.kind, 0))
from unnest(%(kinds)s::text[]) as k (kind)
order by k.kind;

-- name: claim_limited_jobs :many
-- Second statement of a limited claim, after lock_job_kind_limits in the same transaction: its
-- snapshot (READ COMMITTED: one per statement) is taken after the locks, so it sees every job
-- the previous holder claimed. Per limited kind of `kinds` (paused ones left out), counts the
-- jobs running now, across all workers, and leases at most `max_running` minus that many of
-- its ready jobs to `owner`; `limit` (the worker's free slots) in all, in claim_jobs' order.
-- "Running" is said with status here: jobs_lease_idx holds exactly the running jobs, where
-- `lease_expires_at is not null` (which complete_jobs uses, to keep the planner on the
-- primary key) would read every job of the table, the kind's waiting backlog included, under
-- the lock (13 ms against 2 ms with 100,000 jobs waiting). Rows the per-kind scans lock beyond
-- `limit` are let go at commit.
with limits as (
    select
        l.kind,
        l.max_running
    from job_kind_limits as l
    where
        l.kind = any(%(kinds)s::text[])
        and not exists (
            select 1 from paused_job_kinds as p
            where p.kind = l.kind
        )
),

running as (
    select
        j.kind,
        count(*) as jobs
    from jobs as j
    where
        j.status = 'running'
        and j.kind = any(array(select limits.kind from limits))
    group by j.kind
),

room as (
    select
        limits.kind,
        least(limits.max_running - coalesce(running.jobs, 0), %(limit)s) as free
    from limits
    left join running on limits.kind = running.kind
    where limits.max_running > coalesce(running.jobs, 0)
),

next_jobs as materialized (
    select
        n.id,
        n.priority,
        n.run_after
    from room
    cross join
        lateral (
            select
                j.id,
                j.priority,
                j.run_after
            from jobs as j
            where
                j.status = 'ready'
                and j.run_after <= now()
                and j.kind = room.kind
            order by j.priority, j.run_after, j.id
            limit room.free
            for update skip locked
        ) as n
    order by n.priority, n.run_after, n.id
    limit %(limit)s
)

update jobs as j
set
    status = 'running',
    attempts = j.attempts + 1,
    lease_owner = %(owner)s,
    lease_expires_at = now() + make_interval(secs => %(lease_s)s),
    updated_at = now()
from next_jobs
where j.id = next_jobs.id
returning
    j.id,
    j.kind,
    j.payload,
    j.priority,
    j.attempts,
    j.max_attempts,
    j.created_at,
    server_run() as server_run; -- the server run that granted the claim (see complete_jobs)

-- name: list_limited_job_kinds :many
-- Which of `kinds` (a worker's) have a limit: the kinds its limited claim takes.
select kind
from job_kind_limits
where kind = any(%(kinds)s::text[])
order by kind;

-- name: notify_job_kind_limits :exec
-- Tells listening workers, once the transaction commits, that the limit of `kind` changed.
select pg_notify(%(channel)s, %(kind)s);

-- name: complete_jobs :execrows
-- Deletes finished jobs, but only those `owner` still holds: a job rescued from this worker
-- after its lease ran out belongs to someone else now and is left alone. And only on the
-- server run that granted the claim (`server_run()`, as the claim returned it):
-- after a restart or a failover in between, what the handler committed may be lost (an
-- asynchronous standby promoted) while the claim survived, and
-- deleting the job would leave its order unfinished with nothing to move it on; the worker
-- puts such a job back to run again instead (handlers are idempotent). "Still running and
-- still held" is said with the lease columns alone (jobs_lease_when_running: a job has both
-- exactly while it runs), never `status = 'running'`: that would let the planner pick the
-- partial jobs_lease_idx and walk every entry dead since the last vacuum (0.3-0.7 s per
-- batch in bin/bench retention, see docs/benchmarks.md) instead of probing the primary key
-- once per id.
delete from jobs
where
    id = any(%(ids)s::bigint[])
    and lease_owner = %(owner)s
    and lease_expires_at is not null
    and server_run() = %(server_run)s;

-- name: release_jobs :execrows
-- Puts jobs `owner` still holds back in the queue after `delay_s` each. A failure counts
-- towards max_attempts (and goes to dead when they are used up); a snooze does not. "Still
-- held" is said as in complete_jobs, without naming status.
update jobs as j
set
    status = case when r.failed and j.attempts >= j.max_attempts then 'dead' else 'ready' end,
    attempts = case when r.failed then j.attempts else j.attempts - 1 end,
    run_after = now() + make_interval(secs => r.delay_s),
    last_error = coalesce(r.error, j.last_error),
    lease_owner = null,
    lease_expires_at = null,
    updated_at = now()
from
    unnest(
        %(ids)s::bigint[], %(delays)s::float8[], %(errors)s::text[], %(failed)s::boolean[]
    ) as r (id, delay_s, error, failed)
where
    j.id = r.id
    and j.lease_owner = %(owner)s
    and j.lease_expires_at is not null;

-- name: renew_leases :many
-- Extends the leases `owner` still holds; the ids that come back are the ones still held.
-- "Still held" is said as in complete_jobs, without naming status.
update jobs
set lease_expires_at = now() + make_interval(secs => %(lease_s)s)
where
    id = any(%(ids)s::bigint[])
    and lease_owner = %(owner)s
    and lease_expires_at is not null
returning id;

-- name: rescue_expired_jobs :many
-- Jobs whose worker stopped renewing the lease (it died or hung) go back to ready, or to dead
-- when their attempts are used up.
update jobs
set
    status = case when attempts >= max_attempts then 'dead' else 'ready' end,
    run_after = now(),
    last_error = 'lease expired: worker ' || lease_owner || ' stopped renewing it',
    lease_owner = null,
    lease_expires_at = null,
    updated_at = now()
where
    id in (
        select id
        from jobs
        where status = 'running' and lease_expires_at < now()
        order by lease_expires_at
        limit 1000
        for update skip locked
    )
returning id, status;

-- name: count_jobs :many
-- Jobs by kind and status (finished jobs are deleted, so they do not appear).
select
    kind,
    status,
    count(*) as jobs
from jobs
group by kind, status
order by kind, status;

-- name: lock_job_kind :exec
-- Serialises the writers that keep at most one live job of a kind (held until commit).
select pg_advisory_xact_lock(hashtextextended('invorder.jobs.kind:' || %(kind)s::text, 0));

-- name: try_lock_job_kind :one
-- As lock_job_kind, without waiting: false when another transaction holds it.
select pg_try_advisory_xact_lock(hashtextextended('invorder.jobs.kind:' || %(kind)s::text, 0)) as locked;

-- name: count_live_jobs_of_kind :one
-- Jobs of a kind that will still run (ready or running), leaving out one job (the caller's own).
select count(*) as jobs
from jobs
where
    kind = %(kind)s
    and status in ('ready', 'running')
    and id is distinct from %(except_id)s::bigint;

-- name: count_dead_job_rows :one
-- Row versions of jobs left dead by deletes and updates since the last vacuum (statistics,
-- about a second behind); 0 when the statistics have no row for jobs yet.
select coalesce(max(n_dead_tup), 0) as dead_rows
from pg_stat_user_tables
where relid = 'jobs'::regclass;

-- name: can_vacuum_jobs :one
-- Whether this session's user may vacuum jobs (its owner, a member of the owning role, or a
-- superuser): anyone else's VACUUM only warns and skips the table.
select pg_has_role(current_user, c.relowner, 'USAGE') as allowed
from pg_class as c
where c.oid = 'jobs'::regclass;

-- name: vacuum_jobs :exec
-- Makes the space of finished jobs reusable (run outside a transaction). SKIP_LOCKED: when
-- another vacuum of jobs is running (another worker's, autovacuum's), this one returns at once.
vacuum (skip_locked) jobs;
