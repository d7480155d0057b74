-- name: list_events :many
-- The feed: events after the cursor (xid, id), in that order, written by transactions older
-- than every transaction still running (pg_snapshot_xmin of this statement's snapshot). Each of
-- those has committed or rolled back for good, so no event can later commit behind the cursor;
-- an event of a transaction still open is served once it has finished. A client sees its own
-- orders' events and the catalog's (client_id null); `client_id` null sees every event.
select
    id,
    xid::text as xid,
    type,
    data,
    created_at
from events
where
    (xid, id) > (%(after_xid)s::text::xid8, %(after_id)s::bigint)
    and xid < pg_snapshot_xmin(pg_current_snapshot())
    and (%(type)s::text is null or type = %(type)s::text)
    and (%(client_id)s::bigint is null or client_id is null or client_id = %(client_id)s::bigint)
order by xid, id
limit %(limit)s;

-- name: get_event :one
-- One event, if `client_id` (null: any) may see it.
select
    id,
    xid::text as xid,
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
    insert into jobs (kind, payload)
    select
        'deliver_webhook' as kind,
        jsonb_build_object('event_id', %(id)s::bigint, 'endpoint_id', endpoints.id) as payload
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
-- Stop delivering to endpoints (a 410, or failures past the retry window), saying why.
update webhook_endpoints as w
set
    enabled = false,
    disabled_reason = d.reason,
    updated_at = now()
from jsonb_to_recordset(%(endpoints)s::jsonb) as d (id bigint, reason text)
where w.id = d.id and w.enabled;

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
