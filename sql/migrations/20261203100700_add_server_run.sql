-- migrate:up
-- The server run that grants a claim and must still answer when the job is deleted as done
-- (claim_jobs, claim_limited_jobs and complete_jobs in sql/queries/jobs.sql): when this
-- server's postmaster started, in microseconds since the epoch (an integer: cheaper to send
-- and read than a timestamp). One definition, so the claims and the completion can never
-- compute it differently: a job would then never be deleted, only run again and again.
-- A new function: it locks nothing that the running system uses.
set local lock_timeout = '1s';
set local statement_timeout = '30s';

create function server_run() returns bigint
language sql stable parallel safe
as $$
    select (extract(epoch from pg_postmaster_start_time()) * 1000000)::bigint
$$;

comment on function server_run() is 'When this server''s postmaster started, in microseconds since the epoch: a claim''s job is deleted as done only on the same server run.';

-- migrate:down
-- squawk-ignore ban-drop-function
drop function server_run();  -- the code before this version never calls it
