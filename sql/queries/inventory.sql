-- name: insert_inventory :one
-- Creates a stock level of a live product at a location (no reorder point yet) and its opening
-- ledger movement. Creating stock at a level emits no event: the events trigger fires on updates.
with created as (
    insert into inventory (product_id, location_id, on_hand)
    select
        id as product_id,
        %(location_id)s::bigint as location_id,
        %(on_hand)s as on_hand
    from products
    where id = %(product_id)s and deleted_at is null
    returning product_id, location_id, on_hand, reserved, reorder_point, version, updated_at
),

movement as (
    insert into stock_movements (product_id, location_id, delta, on_hand_after, kind, reason, actor)
    select
        product_id,
        location_id,
        on_hand as delta,
        on_hand as on_hand_after,
        'initial' as kind,
        %(reason)s as reason,
        %(actor)s as actor
    from created
)

select
    product_id,
    on_hand,
    reserved,
    on_hand - reserved as available,
    reorder_point,
    version,
    updated_at
from created;

-- name: get_inventory :one
-- The stock row of a live product.
select
    i.product_id,
    i.on_hand,
    i.reserved,
    i.on_hand - i.reserved as available,
    i.reorder_point,
    i.version,
    i.updated_at
from inventory as i
inner join products as p on i.product_id = p.id
where i.product_id = %(product_id)s and p.deleted_at is null;

-- name: lock_inventory :many
-- The stock levels of a live product, at `location_id` only unless it is null, locked for the
-- rest of the transaction in location order (product, then location: every writer's order).
select
    i.product_id,
    i.location_id,
    i.on_hand,
    i.reserved,
    i.on_hand - i.reserved as available,
    i.reorder_point,
    i.version,
    i.updated_at
from inventory as i
inner join products as p on i.product_id = p.id
where
    i.product_id = %(product_id)s
    and (%(location_id)s::bigint is null or i.location_id = %(location_id)s::bigint)
    and p.deleted_at is null
order by i.location_id
for update of i;

-- name: list_inventory :many
-- Stock rows of live products after the cursor; with below, only those whose available is under
-- it; with below_reorder_point, only those whose available is at or below their reorder point
-- (a null reorder point never matches).
select
    i.product_id,
    i.on_hand,
    i.reserved,
    i.on_hand - i.reserved as available,
    i.reorder_point,
    i.version,
    i.updated_at
from inventory as i
inner join products as p on i.product_id = p.id
where
    p.deleted_at is null
    and i.product_id > %(after_id)s
    and (%(below)s::bigint is null or i.on_hand - i.reserved < %(below)s)
    and (not %(below_reorder_point)s::boolean or i.on_hand - i.reserved <= i.reorder_point)
order by i.product_id
limit %(limit)s;

-- name: change_on_hand :one
-- Adds delta to on_hand of one stock level (product, location) and writes the ledger row (none
-- for a delta of 0), atomically; the check constraints refuse going below zero or below what is
-- reserved. With set_reorder_point it also sets reorder_point (null: none), the level at or
-- below which available counts as low stock, in the same statement: the events trigger sees
-- one change, measured against the new point.
-- Either way the version, which the ETag covers, goes up by one. A restock names the order and
-- the refund whose units come back (order_id, refund_id; null otherwise).
with changed as (
    update inventory
    set
        on_hand = on_hand + %(delta)s,
        reorder_point = case
            when %(set_reorder_point)s::boolean then %(reorder_point)s::bigint else reorder_point
        end,
        version = version + 1,
        updated_at = now()
    where product_id = %(product_id)s and location_id = %(location_id)s
    returning product_id, location_id, on_hand, reserved, reorder_point, version, updated_at
),

movement as (
    insert into stock_movements (
        product_id, location_id, delta, on_hand_after, kind, reason, actor, order_id, refund_id
    )
    select
        product_id,
        location_id,
        %(delta)s as delta,
        on_hand as on_hand_after,
        %(kind)s as kind,
        %(reason)s as reason,
        %(actor)s as actor,
        %(order_id)s::bigint as order_id,
        %(refund_id)s::bigint as refund_id
    from changed
    where %(delta)s <> 0
)

select
    product_id,
    on_hand,
    reserved,
    on_hand - reserved as available,
    reorder_point,
    version,
    updated_at
from changed;

-- name: delete_inventory :execrows
-- Removes a stock level that holds no reservation (its ledger stays).
delete from inventory
where product_id = %(product_id)s and location_id = %(location_id)s and reserved = 0;

-- name: list_movements :many
-- The ledger of one product, oldest first, after the cursor. A row with no location was
-- written before locations, at default (id 1).
select
    id,
    product_id,
    delta,
    on_hand_after,
    kind,
    reason,
    order_id,
    refund_id,
    coalesce(location_id, 1) as location_id,
    actor,
    created_at
from stock_movements
where product_id = %(product_id)s and id > %(after_id)s
order by id
limit %(limit)s;

-- name: list_levels_of_product :many
-- The stock levels of a product, one per location, in location id order.
select
    location_id,
    on_hand,
    reserved,
    on_hand - reserved as available,
    reorder_point,
    version
from inventory
where product_id = %(product_id)s
order by location_id;

-- name: location_exists :one
select 1
from locations
where id = %(id)s;

-- name: get_level :one
-- A live product's stock level at one location.
select
    i.location_id,
    i.on_hand,
    i.reserved,
    i.on_hand - i.reserved as available,
    i.reorder_point,
    i.version
from inventory as i
inner join products as p on i.product_id = p.id
where i.product_id = %(product_id)s and i.location_id = %(location_id)s and p.deleted_at is null;
