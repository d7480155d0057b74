-- name: queue_depth_by_kind :many
-- The `queue_depth` view: per kind, jobs ready now, scheduled, running, dead, cancelled, and
-- how long the oldest ready job has waited past its run_after.
select
    kind,
    ready,
    scheduled,
    running,
    dead,
    cancelled,
    oldest_ready_age_s
from queue_depth
order by kind;

-- name: list_jobs :many
-- Jobs by id, optionally of one kind and one status, after the cursor `after_id` (keyset).
select
    id,
    kind,
    status,
    priority,
    attempts,
    max_attempts,
    run_after,
    lease_owner,
    lease_expires_at,
    last_error,
    created_at,
    updated_at,
    payload
from jobs
where
    (%(kind)s::text is null or kind = %(kind)s::text)
    and (%(status)s::text is null or status = %(status)s::text)
    and id > %(after_id)s
order by id
limit %(limit)s;

-- name: get_job :one
-- One job, whatever its status (finished jobs are deleted, so they are not found).
select
    id,
    kind,
    status,
    priority,
    attempts,
    max_attempts,
    run_after,
    lease_owner,
    lease_expires_at,
    last_error,
    created_at,
    updated_at,
    payload
from jobs
where id = %(id)s;

-- name: list_stuck_jobs :many
-- The `stuck_jobs` view, longest stuck first.
select
    id,
    kind,
    status,
    reason,
    lease_owner,
    attempts,
    max_attempts,
    stuck_for_s,
    last_error
from stuck_jobs
order by stuck_for_s desc, id asc
limit %(limit)s;

-- name: list_recent_failures :many
-- Jobs whose latest attempt failed (retrying or dead), most recent first, with the error.
select
    id,
    kind,
    status,
    attempts,
    max_attempts,
    last_error,
    updated_at
from jobs
where
    last_error is not null
    and status in ('ready', 'dead')
    and attempts > 0
order by updated_at desc, id desc
limit %(limit)s;

-- name: retry_jobs :many
-- Runs the given dead, cancelled or not-yet-due jobs now, with a fresh set of attempts.
-- Running jobs are left to their worker (the caller then wakes the workers).
update jobs
set
    status = 'ready',
    attempts = 0,
    run_after = now(),
    updated_at = now()
where
    id = any(%(ids)s::bigint[])
    and status in ('dead', 'cancelled', 'ready')
returning id, kind;

-- name: cancel_jobs :many
-- Gives up the given ready or dead jobs: they stay as `cancelled` until purged. Running jobs
-- are left to their worker.
update jobs
set
    status = 'cancelled',
    updated_at = now()
where
    id = any(%(ids)s::bigint[])
    and status in ('ready', 'dead')
returning id, kind;

-- name: purge_jobs :execrows
-- Deletes up to `batch` dead or cancelled jobs (those in `statuses`) last changed before the
-- cutoff; called until it deletes nothing, so no statement holds many row locks for long.
delete from jobs
where id in (
    select id
    from jobs
    where
        status = any(%(statuses)s::text[])
        and status in ('dead', 'cancelled')
        and updated_at < now() - make_interval(secs => %(older_than_s)s)
    order by id
    limit %(batch)s
    for update skip locked
);

-- name: record_job_admin_action :exec
-- Writes who did what to which jobs (append-only).
insert into job_admin_actions (actor, action, job_ids, affected, details)
values (%(actor)s, %(action)s, %(job_ids)s::bigint[], %(affected)s, %(details)s);

-- name: list_job_admin_actions :many
-- The latest operator actions, newest first.
select
    id,
    acted_at,
    actor,
    action,
    job_ids,
    affected,
    details
from job_admin_actions
order by id desc
limit %(limit)s;

-- name: heartbeat_queue_worker :exec
-- A worker says it is alive, how many jobs it holds, and its totals since it started.
insert into queue_workers as w (
    worker_id, kinds, concurrency, jobs_in_hand, jobs_done, jobs_failed
)
values (%(worker_id)s, %(kinds)s::text[], %(concurrency)s, %(jobs_in_hand)s, %(jobs_done)s, %(jobs_failed)s)
on conflict (worker_id) do update
    set
        last_seen_at = now(),
        jobs_in_hand = excluded.jobs_in_hand,
        jobs_done = excluded.jobs_done,
        jobs_failed = excluded.jobs_failed,
        stopped_at = null;

-- name: stop_queue_worker :exec
-- A worker that stops cleanly says so.
update queue_workers
set
    stopped_at = now(),
    last_seen_at = now(),
    jobs_in_hand = 0
where worker_id = %(worker_id)s;

-- name: add_job_throughput :exec
-- Adds one worker's counts since its previous heartbeat to this minute's row of each kind.
insert into job_throughput as t (minute, kind, done, failed, dead)
select
    date_trunc('minute', now()) as minute,
    c.kind,
    c.done,
    c.failed,
    c.dead
from
    unnest(%(kinds)s::text[], %(done)s::bigint[], %(failed)s::bigint[], %(dead)s::bigint[])
        as c (kind, done, failed, dead)
order by c.kind
on conflict (minute, kind) do update
    set
        done = t.done + excluded.done,
        failed = t.failed + excluded.failed,
        dead = t.dead + excluded.dead;

-- name: prune_queue_history :exec
-- Forgets workers gone for a day and throughput older than a day.
with gone as (
    delete from queue_workers
    where last_seen_at < now() - interval '1 day'
)

delete from job_throughput
where minute < now() - interval '1 day';

-- name: list_queue_workers :many
-- Workers seen in the last `seen_within_s` seconds (alive, or stopped recently), newest first.
select
    worker_id,
    started_at,
    last_seen_at,
    kinds,
    concurrency,
    jobs_in_hand,
    jobs_done,
    jobs_failed,
    stopped_at,
    (stopped_at is null and last_seen_at > now() - interval '1 minute') as alive
from queue_workers
where last_seen_at > now() - make_interval(secs => %(seen_within_s)s)
order by started_at desc, worker_id asc;

-- name: recent_job_throughput :many
-- Jobs done, failed and dead per minute (all kinds) over the last `minutes` minutes.
select
    minute,
    sum(done)::bigint as done,
    sum(failed)::bigint as failed,
    sum(dead)::bigint as dead
from job_throughput
where minute > now() - make_interval(mins => %(minutes)s)
group by minute
order by minute;

-- name: job_kind_known :one
-- Whether `kind` is one a pause or a limit can name: a kind of invorder's (`known`), one some
-- worker has registered, or one with jobs in the table.
select
    %(kind)s::text = any(%(known)s::text[])
    or exists (
        select 1 from queue_workers as w
        where %(kind)s::text = any(w.kinds)
    )
    or exists (
        select 1 from jobs as j
        where j.kind = %(kind)s::text
    ) as known;

-- name: pause_job_kind :execrows
-- Pauses a kind; pausing a paused kind changes nothing (no row).
insert into paused_job_kinds (kind, paused_by)
values (%(kind)s, %(actor)s)
on conflict (kind) do nothing;

-- name: resume_job_kind :execrows
-- Resumes a kind; resuming a kind that is not paused changes nothing (no row).
delete from paused_job_kinds
where kind = %(kind)s;

-- name: list_paused_job_kinds :many
-- The paused kinds, who paused them and when.
select
    kind,
    paused_at,
    paused_by
from paused_job_kinds
order by kind;

-- name: limit_job_kind :execrows
-- Sets the most jobs of a kind running at once; setting the limit it has changes nothing (no row).
insert into job_kind_limits (kind, max_running, set_by)
values (%(kind)s, %(max_running)s, %(actor)s)
on conflict (kind) do update
    set
        max_running = excluded.max_running,
        set_at = now(),
        set_by = excluded.set_by
    where job_kind_limits.max_running <> excluded.max_running;

-- name: unlimit_job_kind :execrows
-- Lifts the limit of a kind; lifting one a kind does not have changes nothing (no row).
delete from job_kind_limits
where kind = %(kind)s;

-- name: list_job_kind_limits :many
-- The limited kinds, their limit, who set it and when.
select
    kind,
    max_running,
    set_at,
    set_by
from job_kind_limits
order by kind;
