-- name: get_webhook_client_id :one
-- The id of the client of this name (the CLI names the client an endpoint is for).
select id
from clients
where name = %(name)s;

-- name: insert_webhook_endpoint :one
-- Subscribes a URL to event types; the secret is not returned (the caller made it).
with w as (
    insert into webhook_endpoints (client_id, all_clients, url, events, description, secret, created_by)
    values (
        %(client_id)s,
        %(all_clients)s,
        %(url)s,
        %(events)s::text[],
        %(description)s,
        %(secret)s,
        %(created_by)s
    )
    returning
        id,
        client_id,
        all_clients,
        url,
        events,
        description,
        enabled,
        disabled_reason,
        created_by,
        created_at,
        updated_at
)

select
    w.id,
    w.client_id,
    c.name as client,
    w.all_clients,
    w.url,
    w.events,
    w.description,
    w.enabled,
    w.disabled_reason,
    w.created_by,
    w.created_at,
    w.updated_at
from w
inner join clients as c on w.client_id = c.id;

-- name: get_webhook_endpoint :one
-- One endpoint, if the viewer may see it: its client's, except an all_clients one (made with
-- `ops`: it gets every client's events, so only `ops` may read or change it); any with a null viewer.
select
    w.id,
    w.client_id,
    c.name as client,
    w.all_clients,
    w.url,
    w.events,
    w.description,
    w.enabled,
    w.disabled_reason,
    w.created_by,
    w.created_at,
    w.updated_at
from webhook_endpoints as w
inner join clients as c on w.client_id = c.id
where
    w.id = %(id)s
    and (%(viewer)s::bigint is null or (w.client_id = %(viewer)s::bigint and not w.all_clients));

-- name: list_webhook_endpoints :many
-- The endpoints the viewer may see after the cursor, in id order (walks the primary key, or
-- webhook_endpoints_client_id_idx for one client).
select
    w.id,
    w.client_id,
    c.name as client,
    w.all_clients,
    w.url,
    w.events,
    w.description,
    w.enabled,
    w.disabled_reason,
    w.created_by,
    w.created_at,
    w.updated_at
from webhook_endpoints as w
inner join clients as c on w.client_id = c.id
where
    w.id > %(after_id)s
    and (%(viewer)s::bigint is null or (w.client_id = %(viewer)s::bigint and not w.all_clients))
order by w.id
limit %(limit)s;

-- name: update_webhook_endpoint :one
-- Changes the given fields (a null parameter leaves its column alone; description is set when
-- set_description). Enabling clears disabled_reason; disabling an enabled endpoint records
-- disabled_reason. No row back: no such endpoint for this viewer.
with w as (
    update webhook_endpoints
    set
        url = coalesce(%(url)s, url),
        events = coalesce(%(events)s::text[], events),
        description = case when %(set_description)s then %(description)s else description end,
        enabled = coalesce(%(enabled)s::boolean, enabled),
        disabled_reason = case
            when %(enabled)s::boolean then null
            when not %(enabled)s::boolean and enabled then %(disabled_reason)s
            else disabled_reason
        end,
        updated_at = now()
    where
        id = %(id)s
        and (%(viewer)s::bigint is null or (client_id = %(viewer)s::bigint and not all_clients))
    returning
        id,
        client_id,
        all_clients,
        url,
        events,
        description,
        enabled,
        disabled_reason,
        created_by,
        created_at,
        updated_at
)

select
    w.id,
    w.client_id,
    c.name as client,
    w.all_clients,
    w.url,
    w.events,
    w.description,
    w.enabled,
    w.disabled_reason,
    w.created_by,
    w.created_at,
    w.updated_at
from w
inner join clients as c on w.client_id = c.id;

-- name: rotate_webhook_endpoint_secret :one
-- A new signing secret; the one it replaces stays previous_secret for keep_previous_s seconds
-- (deliveries are signed with both until then). No row back: no such endpoint for this viewer.
with w as (
    update webhook_endpoints
    set
        secret = %(secret)s,
        previous_secret = secret,
        previous_secret_expires_at = now() + make_interval(secs => %(keep_previous_s)s::double precision),
        updated_at = now()
    where
        id = %(id)s
        and (%(viewer)s::bigint is null or (client_id = %(viewer)s::bigint and not all_clients))
    returning
        id,
        client_id,
        all_clients,
        url,
        events,
        description,
        enabled,
        disabled_reason,
        created_by,
        created_at,
        updated_at
)

select
    w.id,
    w.client_id,
    c.name as client,
    w.all_clients,
    w.url,
    w.events,
    w.description,
    w.enabled,
    w.disabled_reason,
    w.created_by,
    w.created_at,
    w.updated_at
from w
inner join clients as c on w.client_id = c.id;

-- name: delete_webhook_endpoint :one
-- Deletes an endpoint and its delivery records (on delete cascade). Delivery jobs already
-- queued for it find no endpoint and end. No row back: no such endpoint for this viewer.
with w as (
    delete from webhook_endpoints
    where
        id = %(id)s
        and (%(viewer)s::bigint is null or (client_id = %(viewer)s::bigint and not all_clients))
    returning
        id,
        client_id,
        all_clients,
        url,
        events,
        description,
        enabled,
        disabled_reason,
        created_by,
        created_at,
        updated_at
)

select
    w.id,
    w.client_id,
    c.name as client,
    w.all_clients,
    w.url,
    w.events,
    w.description,
    w.enabled,
    w.disabled_reason,
    w.created_by,
    w.created_at,
    w.updated_at
from w
inner join clients as c on w.client_id = c.id;

-- name: list_webhook_deliveries :many
-- The delivery attempts of one endpoint, newest first: `after_id` 0 starts at the newest,
-- otherwise the page holds the attempts older than it (webhook_deliveries_endpoint_id_idx).
select
    id,
    event_id,
    attempt,
    status_code,
    error,
    latency_ms,
    created_at
from webhook_deliveries
where
    endpoint_id = %(endpoint_id)s
    and (%(after_id)s::bigint = 0 or id < %(after_id)s::bigint)
order by id desc
limit %(limit)s;
