-- name: find_order_by_idempotency_key :one
select
    id,
    request_hash
from orders
where idempotency_key = %(idempotency_key)s;

-- name: live_products_for_order :many
-- Prices of the live products an order names (a deleted or unknown id is simply missing).
select
    id,
    price_cents
from products
where id = any(%(ids)s::bigint[]) and deleted_at is null;

-- name: insert_order :one
-- A new pending order with its items and its `placed` log row, in one statement. With a key
-- already used nothing is inserted and no row comes back (a concurrent duplicate waits here
-- until the first commits).
with new_order as (
    insert into orders (customer_ref, total_cents, idempotency_key, request_hash)
    values (%(customer_ref)s, %(total_cents)s, %(idempotency_key)s, %(request_hash)s)
    on conflict (idempotency_key) do nothing
    returning
        id,
        status,
        customer_ref,
        total_cents,
        attempts,
        next_attempt_at,
        last_error,
        payment_status,
        payment_attempts,
        charge_id,
        reserved_at,
        finished_at,
        created_at,
        updated_at
),

items as (
    insert into order_items (order_id, product_id, quantity, unit_price_cents)
    select
        new_order.id as order_id,
        i.product_id,
        i.quantity,
        i.unit_price_cents
    from new_order
    cross join
        unnest(%(product_ids)s::bigint[], %(quantities)s::integer[], %(prices)s::bigint[])
            as i (product_id, quantity, unit_price_cents)
),

placed as (
    insert into order_logs (order_id, attempt, status, details)
    select
        id as order_id,
        0 as attempt,
        'placed' as status,
        jsonb_build_object('total_cents', total_cents) as details
    from new_order
)

select
    id,
    status,
    customer_ref,
    total_cents,
    attempts,
    next_attempt_at,
    last_error,
    payment_status,
    payment_attempts,
    charge_id,
    reserved_at,
    finished_at,
    created_at,
    updated_at
from new_order;

-- name: insert_order_log :exec
insert into order_logs (order_id, attempt, status, error_message, details)
values (%(order_id)s, %(attempt)s, %(status)s, %(error_message)s, %(details)s);

-- name: get_order :one
select
    id,
    status,
    customer_ref,
    total_cents,
    attempts,
    next_attempt_at,
    last_error,
    payment_status,
    payment_attempts,
    charge_id,
    reserved_at,
    finished_at,
    created_at,
    updated_at
from orders
where id = %(id)s;

-- name: lock_order :one
-- The order row, locked: every processing step and a cancel hold it, so they run one at a time.
select
    id,
    status,
    customer_ref,
    total_cents,
    attempts,
    next_attempt_at,
    last_error,
    payment_status,
    payment_attempts,
    charge_id,
    reserved_at,
    finished_at,
    created_at,
    updated_at
from orders
where id = %(id)s
for update;

-- name: list_orders :many
select
    id,
    status,
    customer_ref,
    total_cents,
    attempts,
    next_attempt_at,
    last_error,
    payment_status,
    payment_attempts,
    charge_id,
    reserved_at,
    finished_at,
    created_at,
    updated_at
from orders
where
    id > %(after_id)s
    and (%(status)s::text is null or status = %(status)s)
order by id
limit %(limit)s;

-- name: get_order_items :many
select
    product_id,
    quantity,
    unit_price_cents
from order_items
where order_id = %(order_id)s
order by product_id;

-- name: list_order_logs :many
select
    id,
    order_id,
    attempt,
    status,
    processed_at,
    error_message,
    details
from order_logs
where order_id = %(order_id)s and id > %(after_id)s
order by id
limit %(limit)s;

-- name: lock_stock_for_order :many
-- The stock rows an order needs, locked in product id order: every order locks in the same
-- global order, so two orders naming the same products can never deadlock. A line whose
-- product has no stock row does not come back.
select
    oi.product_id,
    oi.quantity,
    i.on_hand - i.reserved as available,
    (p.deleted_at is not null) as product_deleted
from order_items as oi
inner join inventory as i on oi.product_id = i.product_id
inner join products as p on oi.product_id = p.id
where oi.order_id = %(order_id)s
order by oi.product_id
for update of i;

-- name: reserve_order_stock :execrows
-- Reserves every line of an order in one statement (rows already locked by lock_stock_for_order).
update inventory as i
set
    reserved = i.reserved + oi.quantity,
    version = i.version + 1,
    updated_at = now()
from order_items as oi
where oi.order_id = %(order_id)s and i.product_id = oi.product_id;

-- name: release_order_stock :execrows
-- Gives back what an order had reserved.
update inventory as i
set
    reserved = i.reserved - oi.quantity,
    version = i.version + 1,
    updated_at = now()
from order_items as oi
where oi.order_id = %(order_id)s and i.product_id = oi.product_id;

-- name: deduct_order_stock :execrows
-- Turns an order's reservation into a sale: on_hand and reserved both drop, and each line
-- writes its ledger row.
with sold as (
    update inventory as i
    set
        on_hand = i.on_hand - oi.quantity,
        reserved = i.reserved - oi.quantity,
        version = i.version + 1,
        updated_at = now()
    from order_items as oi
    where oi.order_id = %(order_id)s and i.product_id = oi.product_id
    returning i.product_id, i.on_hand, oi.quantity
)

insert into stock_movements (product_id, delta, on_hand_after, kind, reason, order_id)
select
    product_id,
    -quantity as delta,
    on_hand as on_hand_after,
    'sale' as kind,
    'order ' || %(order_id)s as reason,
    %(order_id)s as order_id
from sold;

-- name: set_order_state :one
-- Moves an order to its next state and returns it; the caller holds the row lock (lock_order).
update orders
set
    status = %(status)s,
    attempts = %(attempts)s,
    next_attempt_at = %(next_attempt_at)s,
    last_error = %(last_error)s,
    payment_status = %(payment_status)s,
    payment_attempts = %(payment_attempts)s,
    charge_id = %(charge_id)s,
    reserved_at = %(reserved_at)s,
    finished_at = case when %(status)s in ('processed', 'failed', 'cancelled') then now() end,
    updated_at = now()
where id = %(id)s
returning
    id,
    status,
    customer_ref,
    total_cents,
    attempts,
    next_attempt_at,
    last_error,
    payment_status,
    payment_attempts,
    charge_id,
    reserved_at,
    finished_at,
    created_at,
    updated_at;

-- name: wake_orders_for_product :execrows
-- After a restock: jobs of pending orders that name the product run now instead of after
-- their backoff.
update jobs
set run_after = now(), updated_at = now()
where
    status = 'ready'
    and kind = 'process_order'
    and run_after > now()
    and (payload ->> 'order_id')::bigint in (
        select oi.order_id
        from order_items as oi
        inner join orders as o on oi.order_id = o.id
        where oi.product_id = %(product_id)s and o.status = 'pending'
    );
