-- name: find_stock_out_of_bounds :many
-- Invariant 1: stock rows with reserved below zero or above on_hand (the check constraints
-- refuse both; this is the evidence they held).
select
    product_id,
    on_hand,
    reserved
from inventory
where reserved < 0 or reserved > on_hand
order by product_id;

-- name: find_reserved_drift :many
-- Invariant 2: products whose reserved differs from what orders now in `reserved` hold. One
-- statement is one snapshot, and an order's status and the stock it holds change in the same
-- transaction, so an order mid-step never shows up as drift. on_hand and reserved are null when
-- reserved orders hold a product that has no stock row.
with held as (
    select
        oi.product_id,
        sum(oi.quantity) as quantity
    from order_items as oi
    inner join orders as o on oi.order_id = o.id
    where o.status = 'reserved'
    group by oi.product_id
)

select
    coalesce(i.product_id, h.product_id) as product_id,
    i.on_hand,
    i.reserved,
    coalesce(h.quantity, 0)::bigint as held
from inventory as i
full outer join held as h on i.product_id = h.product_id
where i.reserved is distinct from coalesce(h.quantity, 0)
order by product_id;

-- name: find_ledger_drift :many
-- Invariant 3: products whose on_hand differs from the sum of their ledger movements (a product
-- whose stock row was deleted must sum to zero).
with ledger as (
    select
        product_id,
        sum(delta) as total
    from stock_movements
    group by product_id
)

select
    coalesce(i.product_id, l.product_id) as product_id,
    i.on_hand,
    coalesce(l.total, 0)::bigint as ledger_total
from inventory as i
full outer join ledger as l on i.product_id = l.product_id
where coalesce(i.on_hand, 0) <> coalesce(l.total, 0)
order by product_id;

-- name: find_stale_reservations :many
-- Orders holding stock for longer than the reservation TTL without a payment conclusion.
select
    id as order_id,
    payment_status,
    payment_attempts,
    reserved_at,
    extract(epoch from now() - reserved_at)::float8 as age_s
from orders
where
    status = 'reserved'
    and reserved_at < now() - make_interval(secs => %(ttl_s)s::float8)
order by id;

-- name: find_orders_without_job :many
-- Orders not final that no job will move on: their process_order job is dead, cancelled or
-- gone (an operator cancelled or purged it). Hash anti-join on the payload's order id: one
-- pass over each table, not a lookup per order.
select
    o.id as order_id,
    o.status,
    coalesce(
        (
            select j.status
            from jobs as j
            where j.kind = %(kind)s and (j.payload ->> 'order_id') = o.id::text
            order by j.id desc
            limit 1
        ),
        'none'
    ) as job_status
from orders as o
where
    o.status in ('pending', 'reserved')
    and not exists (
        select 1
        from jobs as j
        where
            j.kind = %(kind)s
            and j.status in ('ready', 'running')
            and (j.payload ->> 'order_id') = o.id::text
    )
order by o.id;

-- name: find_stale_refunds :many
-- Refunds pending for longer than `age_s` (the provider has not answered for them), through the
-- partial index refunds_pending_idx, with the status of the latest process_refund job asking for
-- each ('none' when it is gone).
select
    r.id as refund_id,
    r.order_id,
    r.attempts,
    extract(epoch from now() - r.created_at)::float8 as age_s,
    coalesce(
        (
            select j.status
            from jobs as j
            where j.kind = %(kind)s and (j.payload ->> 'refund_id') = r.id::text
            order by j.id desc
            limit 1
        ),
        'none'
    ) as job_status
from refunds as r
where
    r.status = 'pending'
    and r.created_at < now() - make_interval(secs => %(age_s)s::float8)
order by r.id;

-- name: list_orders_to_verify :many
-- Final orders whose payment the provider must confirm, after the cursor: processed ones, and
-- failed or cancelled ones for which a charge was attempted.
select
    id,
    status,
    total_cents,
    payment_status,
    charge_id
from orders
where
    id > %(after_id)s
    and (
        status = 'processed'
        or (status in ('failed', 'cancelled') and payment_status <> 'none')
    )
order by id
limit %(limit)s;

-- name: list_refunds_to_verify :many
-- The refunds of a batch of orders from list_orders_to_verify, to compare with the provider's
-- refunds under their keys (refunds_order_id_idx).
select
    id,
    order_id,
    amount_cents,
    status,
    created_at
from refunds
where order_id = any(%(order_ids)s::bigint[])
order by order_id, id;

-- name: lock_inventory_rows :many
-- Locks stock rows in product id order, the global lock order every writer of stock follows.
select product_id
from inventory
where product_id = any(%(product_ids)s::bigint[])
order by product_id
for update;

-- name: recompute_reserved :many
-- Sets reserved to what orders now in `reserved` hold, for the given products (locked first by
-- lock_inventory_rows, so nothing moves under it) whose reserved drifted and where that fits
-- under on_hand. Returns each row changed with its value before and after.
with held as (
    select
        oi.product_id,
        sum(oi.quantity)::bigint as quantity
    from order_items as oi
    inner join orders as o on oi.order_id = o.id
    where o.status = 'reserved' and oi.product_id = any(%(product_ids)s::bigint[])
    group by oi.product_id
),

target as (
    select
        i.product_id,
        i.reserved as reserved_before,
        coalesce(h.quantity, 0) as held
    from inventory as i
    left join held as h on i.product_id = h.product_id
    where i.product_id = any(%(product_ids)s::bigint[])
)

update inventory as i
set
    reserved = t.held,
    version = i.version + 1,
    updated_at = now()
from target as t
where
    i.product_id = t.product_id
    and i.reserved <> t.held
    and t.held <= i.on_hand
returning i.product_id, t.reserved_before, i.reserved as reserved_after;
