-- migrate:up
-- VACUUM of jobs (autovacuum's or anyone's) no longer gives the empty pages at the end of the
-- heap back to the operating system. That truncation needs an ACCESS EXCLUSIVE lock on jobs,
-- which VACUUM tries to take for up to 5 s on a table the workers never leave alone, and the
-- pages it gives back are needed again within a second: bin/bench retention measured vacuums
-- of jobs of up to 5 s, mostly waiting for that lock (wait event VacuumTruncate), against at
-- most 0.14 s without it, and a table that shrank and grew instead of staying flat
-- (docs/benchmarks.md). Empty pages are reused through the free space map. To shrink the file
-- after a large backlog has drained: `vacuum (truncate) jobs`.
-- Setting a storage parameter takes SHARE UPDATE EXCLUSIVE, which blocks neither reads nor
-- writes, only another VACUUM or ALTER of jobs.
set local lock_timeout = '1s';
set local statement_timeout = '10s';

alter table jobs set (vacuum_truncate = false);

-- migrate:down
set local lock_timeout = '1s';
set local statement_timeout = '10s';

alter table jobs reset (vacuum_truncate);
