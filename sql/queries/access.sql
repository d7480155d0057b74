-- name: ensure_client :one
-- The client of this name, created when it is new (the no-op update makes a concurrent
-- creator of the same name get the one row instead of nothing).
insert into clients (name)
values (%(name)s)
on conflict (name) do update set name = excluded.name
returning id;

-- name: insert_api_key :one
with k as (
    insert into api_keys (client_id, prefix, key_hash, scopes, created_by, expires_at)
    values (%(client_id)s, %(prefix)s, %(key_hash)s, %(scopes)s::text[], %(created_by)s, %(expires_at)s)
    returning *
)

select
    k.id,
    c.name as client,
    k.prefix,
    k.scopes,
    k.created_at,
    k.expires_at,
    k.revoked_at,
    k.last_used_at
from k
inner join clients as c on k.client_id = c.id;

-- name: list_api_keys :many
-- Every key, newest first within a keyset page (`after_id` 0 starts at the newest).
select
    k.id,
    c.name as client,
    k.prefix,
    k.scopes,
    k.created_at,
    k.expires_at,
    k.revoked_at,
    k.last_used_at
from api_keys as k
inner join clients as c on k.client_id = c.id
where %(after_id)s::bigint = 0 or k.id < %(after_id)s::bigint
order by k.id desc
limit %(limit)s;

-- name: revoke_api_key :one
-- Revokes a key (a key revoked already keeps its first revocation time).
with k as (
    update api_keys
    set revoked_at = coalesce(revoked_at, now())
    where id = %(id)s
    returning *
)

select
    k.id,
    c.name as client,
    k.prefix,
    k.scopes,
    k.created_at,
    k.expires_at,
    k.revoked_at,
    k.last_used_at
from k
inner join clients as c on k.client_id = c.id;

-- name: find_api_key :one
-- The key with this hash, whatever its state: the caller decides (revoked, expired).
select
    k.id,
    k.client_id,
    c.name as client,
    k.scopes,
    k.expires_at,
    k.revoked_at
from api_keys as k
inner join clients as c on k.client_id = c.id
where k.key_hash = %(key_hash)s;

-- name: touch_api_keys :execrows
-- Records when keys were last used (one statement for every key a process saw lately). The
-- caller sorts the ids: flushes of several processes then lock rows in one order.
update api_keys as k
set last_used_at = greatest(k.last_used_at, u.used_at)
from unnest(%(ids)s::bigint[], %(used_at)s::timestamptz[]) as u (id, used_at)
where k.id = u.id;
