-- name: insert_location :one
-- A new location; no row when its code is taken.
insert into locations (code, name, priority, active)
values (%(code)s, %(name)s, %(priority)s, %(active)s)
on conflict (code) do nothing
returning id, code, name, priority, active, created_at, updated_at;

-- name: get_location :one
select
    id,
    code,
    name,
    priority,
    active,
    created_at,
    updated_at
from locations
where id = %(id)s;

-- name: list_locations :many
select
    id,
    code,
    name,
    priority,
    active,
    created_at,
    updated_at
from locations
where id > %(after_id)s
order by id
limit %(limit)s;

-- name: update_location :one
-- Sets the fields given (a null parameter leaves its field as it is).
update locations
set
    name = coalesce(%(name)s::text, name),
    priority = coalesce(%(priority)s::integer, priority),
    active = coalesce(%(active)s::boolean, active),
    updated_at = now()
where id = %(id)s
returning id, code, name, priority, active, created_at, updated_at;

-- name: lock_location_stock :one
-- The units on hand and reserved at a location, its stock levels locked (a level being changed
-- meanwhile is waited for): what a delete must find at zero.
with levels as (
    select
        i.on_hand,
        i.reserved
    from inventory as i
    where i.location_id = %(id)s
    order by i.product_id
    for update
)

select
    coalesce(sum(on_hand), 0)::bigint as on_hand,
    coalesce(sum(reserved), 0)::bigint as reserved
from levels;

-- name: delete_location :one
-- Deletes a location and its empty stock levels (the caller found them all at zero, locked).
with emptied as (
    delete from inventory
    where location_id = %(id)s and on_hand = 0 and reserved = 0
)

delete from locations
where id = %(id)s
returning id, code, name, priority, active, created_at, updated_at;
