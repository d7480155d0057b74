-- name: list_events :many
-- The feed: events after the cursor (seq, id) in commit order, the transaction's seq first
-- (event_commits: seq values commit in increasing order, so none can appear behind the
-- cursor later), then the event id within it. A client sees its own orders' events and the
-- catalog's (client_id null); `client_id` null sees every event. Every row, and a row of nulls
-- when the page is empty, carries `last_seq`, the highest seq committed in the same snapshot:
-- a reader whose page comes back short can move its cursor there without missing anything.
with page as (
    select
        e.id,
        c.seq,
        e.type,
        e.data,
        e.created_at
    from event_commits as c
    inner join events as e on c.xid = e.xid
    where
        c.seq >= %(after_seq)s::bigint  -- a range on event_commits_seq_key; the pair decides
        and (c.seq, e.id) > (%(after_seq)s::bigint, %(after_id)s::bigint)
        and (%(type)s::text is null or e.type = %(type)s::text)
        and (%(client_id)s::bigint is null or e.client_id is null or e.client_id = %(client_id)s::bigint)
    order by c.seq, e.id
    limit %(limit)s
),

last as (
    select coalesce(max(seq), 0) as last_seq
    from event_commits
)

select
    page.id,
    page.seq,
    page.type,
    page.data,
    page.created_at,
    last.last_seq
from last
left join page on true
order by page.seq, page.id;

-- name: get_event :one
-- One event, if `client_id` (null: any) may see it.
select
    id,
    type,
    data,
    created_at
from events
where
    id = %(id)s
    and (%(client_id)s::bigint is null or client_id is null or client_id = %(client_id)s::bigint);

-- name: redeliver_event :many
-- One new delivery job per enabled endpoint subscribed to the event that may see it (the rule
-- of fan_out_events); the endpoints that will get it.
with event as (
    select
        id,
        type,
        client_id
    from events
    where id = %(id)s
),

endpoints as (
    select w.id
    from webhook_endpoints as w
    inner join event as e
        on
            w.enabled
            and ('*' = any(w.events) or e.type = any(w.events))
            and (e.client_id is null or w.all_clients or w.client_id = e.client_id)
    where %(client_id)s::bigint is null or w.client_id = %(client_id)s::bigint
),

added as (
    insert into jobs (kind, payload, priority)
    select
        'deliver_webhook' as kind,
        jsonb_build_object('event_id', %(id)s::bigint, 'endpoint_id', endpoints.id) as payload,
        150 as priority
    from endpoints
    returning payload
)

select (payload ->> 'endpoint_id')::bigint as endpoint_id
from added
order by endpoint_id;

-- name: get_deliveries_to_make :many
-- What a batch of delivery jobs sends: each (event, endpoint) pair with the event, the
-- endpoint's url and live secrets, and how many attempts this job has made (since `since`, the
-- job's creation). A pair whose event or endpoint is gone comes back with nulls.
select
    p.place,
    e.id as event_id,
    e.type,
    e.data,
    e.created_at as event_created_at,
    w.id as endpoint_id,
    w.url,
    w.enabled,
    w.secret,
    case when w.previous_secret_expires_at > now() then w.previous_secret end as previous_secret,
    (
        select count(*)
        from webhook_deliveries as d
        where d.event_id = p.event_id and d.endpoint_id = p.endpoint_id
    ) as attempts_before,
    (
        select count(*)
        from webhook_deliveries as d
        where d.event_id = p.event_id and d.endpoint_id = p.endpoint_id and d.created_at >= p.since
    ) as attempts_of_job
from jsonb_to_recordset(%(pairs)s::jsonb) as p (place int, event_id bigint, endpoint_id bigint, since timestamptz)
left join events as e on p.event_id = e.id
left join webhook_endpoints as w on p.endpoint_id = w.id
order by p.place;

-- name: record_deliveries :exec
-- Every attempt of a batch of deliveries, in one statement.
insert into webhook_deliveries (endpoint_id, event_id, attempt, status_code, error, latency_ms)
select
    d.endpoint_id,
    d.event_id,
    d.attempt,
    d.status_code,
    d.error,
    d.latency_ms
from
    jsonb_to_recordset(%(deliveries)s::jsonb)
        as d (
            endpoint_id bigint, event_id bigint, attempt int, status_code int, error text, latency_ms int
        )
where exists (
    select 1 from webhook_endpoints as w
    where w.id = d.endpoint_id
);

-- name: disable_endpoints :exec
-- Stop delivering to endpoints, saying why: at once on a 410; after the retry window only if
-- the endpoint has not delivered anything within it (`unless_delivered_within_s`).
update webhook_endpoints as w
set
    enabled = false,
    disabled_reason = d.reason,
    updated_at = now()
from jsonb_to_recordset(%(endpoints)s::jsonb) as d (id bigint, reason text, unless_delivered_within_s float8)
where
    w.id = d.id
    and w.enabled
    and (
        d.unless_delivered_within_s is null
        or not exists (
            select 1
            from webhook_deliveries as x
            where
                x.endpoint_id = w.id
                and x.status_code between 200 and 299
                and x.created_at > now() - make_interval(secs => d.unless_delivered_within_s)  -- noqa: RF01
        )
    );

-- name: prune_events :execrows
-- Deletes up to `limit` events older than the retention, oldest first.
delete from events
where id in (
    select id
    from events
    where created_at < now() - make_interval(secs => %(retention_s)s)
    order by created_at
    limit %(limit)s
);

-- name: prune_event_commits :execrows
-- Deletes up to `limit` commit records older than the retention whose events are all gone (a
-- transaction's events and its record share its start time as created_at).
delete from event_commits
where xid in (
    select c.xid
    from event_commits as c
    where
        c.created_at < now() - make_interval(secs => %(retention_s)s)
        and not exists (
            select 1 from events as e
            where e.xid = c.xid
        )
    order by c.created_at
    limit %(limit)s
);

-- name: prune_webhook_deliveries :execrows
-- Deletes up to `limit` delivery records older than the retention, oldest first.
delete from webhook_deliveries
where id in (
    select id
    from webhook_deliveries
    where created_at < now() - make_interval(secs => %(retention_s)s)
    order by created_at
    limit %(limit)s
);

-- name: webhook_stats :one
-- For stats, metrics and the dashboard: deliveries waiting, attempts that failed in the last
-- hour, and endpoints disabled.
select
    (
        select count(*) from jobs
        where kind = 'deliver_webhook' and status in ('ready', 'running')
    ) as pending,
    (
        select count(*)
        from webhook_deliveries
        where
            created_at > now() - interval '1 hour'
            and (status_code is null or status_code not between 200 and 299)
    ) as failed_last_hour,
    (
        select count(*)
        from webhook_deliveries
        where created_at > now() - interval '1 hour' and status_code between 200 and 299
    ) as delivered_last_hour,
    (
        select count(*) from webhook_endpoints
        where not enabled
    ) as disabled_endpoints,
    (
        select count(*) from webhook_endpoints
        where enabled
    ) as enabled_endpoints;

-- name: vacuum_events :exec
-- After a prune: reclaims the deleted rows' space now, as the workers do for jobs, rather
-- than when autovacuum comes by (or never, where it is off). skip_locked: returns at once when
-- another vacuum of them runs. A user that does not own the tables gets a warning, no error.
vacuum (skip_locked) events, event_commits, webhook_deliveries;
