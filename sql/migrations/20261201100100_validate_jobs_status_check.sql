-- migrate:up
-- Second step of 20261201100000_add_job_operations: check the rows written before the new
-- status check was added NOT VALID. VALIDATE takes SHARE UPDATE EXCLUSIVE on jobs, which
-- blocks neither claims nor completions.
set local lock_timeout = '1s';
set local statement_timeout = '30s';

alter table jobs validate constraint jobs_status_check;

-- migrate:down
-- Nothing to undo: a validated constraint stays valid, and the previous migration's down
-- puts the old check back.
