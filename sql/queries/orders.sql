-- name: find_order_by_idempotency_key :one
-- The client's order placed with this key (keys are per client).
select
    id,
    request_hash
from orders
where client_id = %(client_id)s and idempotency_key = %(idempotency_key)s;

-- name: live_products_for_order :many
-- Prices of the live products an order names (a deleted or unknown id is simply missing).
select
    id,
    price_cents
from products
where id = any(%(ids)s::bigint[]) and deleted_at is null;

-- name: place_orders :many
-- New pending orders, many in one statement and so one transaction: each order with its total,
-- its items at the products' current prices, its `placed` log row, its first job (the row
-- `enqueue_job` writes), and one notification that wakes the workers. The API writes the
-- orders of concurrent requests together (placement.py). `orders` is a JSON array of
-- {client_id, customer_ref, idempotency_key, request_hash, actor} objects; `lines` a JSON array
-- of {place, product_id, quantity}, naming its order by its place (1-based) in `orders`.
-- A row comes back for each order placed, with its place; none for an order not placed: a
-- product is unknown or deleted, or its Idempotency-Key is taken (by an order committed
-- earlier, or by one earlier in the same array; a concurrent duplicate waits here until the
-- first commits). `unit_prices` follow the order's lines in product-id order.
with wanted as (
    select
        wanted.place,
        (wanted.o ->> 'client_id')::bigint as client_id,
        wanted.o ->> 'customer_ref' as customer_ref,
        wanted.o ->> 'idempotency_key' as idempotency_key,
        wanted.o ->> 'request_hash' as request_hash,
        wanted.o ->> 'actor' as actor
    from jsonb_array_elements(%(orders)s::jsonb) with ordinality as wanted (o, place)
),

lines as (
    select
        line.place,
        line.product_id,
        line.quantity
    from jsonb_to_recordset(%(lines)s::jsonb) as line (place bigint, product_id bigint, quantity integer)
),

priced as (
    select
        lines.place,
        lines.product_id,
        lines.quantity,
        products.price_cents
    from lines
    inner join products on lines.product_id = products.id
    where products.deleted_at is null
),

complete as (
    -- the orders whose every line names a live product, with their totals, in arrival order
    select
        priced.place,
        sum(priced.price_cents * priced.quantity)::bigint as total_cents
    from priced
    group by priced.place
    having
        count(*) = (
            select count(*) from lines
            where lines.place = priced.place
        )
    order by priced.place
),

numbered as (
    -- ids drawn before the insert, so each placed row is known by its place
    select
        complete.place,
        complete.total_cents,
        nextval(pg_get_serial_sequence('orders', 'id')) as id
    from complete
),

new_order as (
    insert into orders (id, client_id, customer_ref, total_cents, idempotency_key, request_hash)
    overriding system value
    select
        numbered.id,
        wanted.client_id,
        wanted.customer_ref,
        numbered.total_cents,
        wanted.idempotency_key,
        wanted.request_hash
    from numbered
    inner join wanted on numbered.place = wanted.place
    order by numbered.id
    -- no conflict target: whichever unique index holds the key (the client's, or during the
    -- deploy of per-client keys the old one on the key alone) makes this order a no-op
    on conflict do nothing
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
        updated_at,
        refunded_cents,
        refund_status,
        fulfillment_status
),

placed as (
    select
        new_order.*,
        numbered.place
    from new_order
    inner join numbered on new_order.id = numbered.id
),

items as (
    insert into order_items (order_id, product_id, quantity, unit_price_cents)
    select
        placed.id as order_id,
        priced.product_id,
        priced.quantity,
        priced.price_cents as unit_price_cents
    from placed
    inner join priced on placed.place = priced.place
),

placed_log as (
    insert into order_logs (order_id, attempt, status, details, actor)
    select
        placed.id as order_id,
        0 as attempt,
        'placed' as status,
        jsonb_build_object('total_cents', placed.total_cents) as details,
        wanted.actor
    from placed
    inner join wanted on placed.place = wanted.place
),

job as (
    insert into jobs (kind, payload, max_attempts)
    select
        %(job_kind)s::text as kind,
        jsonb_build_object('order_id', placed.id) as payload,
        %(max_attempts)s::integer as max_attempts
    from placed
    order by placed.id
    returning kind
),

notified as (
    select pg_notify(%(channel)s, %(job_kind)s::text) as notified
    where exists (select from job)
)

select
    placed.place,
    placed.id,
    placed.status,
    placed.customer_ref,
    placed.total_cents,
    placed.attempts,
    placed.next_attempt_at,
    placed.last_error,
    placed.payment_status,
    placed.payment_attempts,
    placed.charge_id,
    placed.reserved_at,
    placed.finished_at,
    placed.created_at,
    placed.updated_at,
    placed.refunded_cents,
    placed.refund_status,
    placed.fulfillment_status,
    array(
        select priced.price_cents
        from priced
        where priced.place = placed.place
        order by priced.product_id
    ) as unit_prices,
    notified.notified
from placed
cross join notified;

-- name: get_order :one
-- One order; with `client_id` set, only when it is that client's (null: any client's, for ops).
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
    updated_at,
    refunded_cents,
    refund_status,
    fulfillment_status
from orders
where id = %(id)s and (%(client_id)s::bigint is null or client_id = %(client_id)s::bigint);

-- name: lock_orders :many
-- The orders, locked in id order: every processing step and a cancel hold them, so the steps of
-- one order run one at a time, and two writers of many orders never deadlock.
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
    updated_at,
    refunded_cents,
    refund_status,
    fulfillment_status
from orders
where id = any(%(ids)s::bigint[])
order by id
for update;

-- name: get_items_of_orders :many
-- The lines of many orders, by order then product.
select
    order_id,
    product_id,
    quantity,
    unit_price_cents
from order_items
where order_id = any(%(order_ids)s::bigint[])
order by order_id, product_id;

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
    updated_at,
    refunded_cents,
    refund_status,
    fulfillment_status
from orders
where
    id > %(after_id)s
    and (%(status)s::text is null or status = %(status)s)
    and (%(client_id)s::bigint is null or client_id = %(client_id)s::bigint)
order by id
limit %(limit)s;

-- name: get_order_items :many
select
    product_id,
    quantity,
    unit_price_cents,
    fulfilled_quantity,
    refunded_quantity,
    cancelled_quantity,
    returned_quantity
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
    details,
    actor
from order_logs
where order_id = %(order_id)s and id > %(after_id)s
order by id
limit %(limit)s;

-- name: lock_stock_for_orders :many
-- The stock rows the given orders name, each once, locked in product id order: every writer of
-- several stock rows locks them in this one global order, so none can deadlock another. A
-- product without a stock row does not come back. The lock is taken before the rows change:
-- an update alone locks in whatever order its plan reads them, and its snapshot would predate
-- a wait for a lock.
select
    i.product_id,
    i.on_hand - i.reserved as available,
    (p.deleted_at is not null) as product_deleted
from inventory as i
inner join products as p on i.product_id = p.id
where
    i.product_id in (
        select oi.product_id
        from order_items as oi
        where oi.order_id = any(%(order_ids)s::bigint[])
    )
order by i.product_id
for update of i;

-- name: move_reservations_for_orders :execrows
-- Reserves every line of the `reserve_ids` orders and gives back what the `release_ids` orders
-- had reserved (ledger-neutral: on_hand does not change), one update per product (rows locked
-- first by lock_stock_for_orders).
update inventory as i
set
    reserved = i.reserved + t.quantity,
    version = i.version + 1,
    updated_at = now()
from (
    select
        oi.product_id,
        sum(
            case
                when oi.order_id = any(%(reserve_ids)s::bigint[]) then oi.quantity
                else -oi.quantity
            end
        ) as quantity
    from order_items as oi
    where oi.order_id = any(%(reserve_ids)s::bigint[] || %(release_ids)s::bigint[])
    group by oi.product_id
) as t
where i.product_id = t.product_id;

-- name: deduct_stock_for_orders :execrows
-- Turns the given orders' reservations into sales: on_hand and reserved drop, one update per
-- product, and each line writes its `sale` ledger row, its on_hand_after counted down in order
-- id order.
with lines as (
    select
        oi.order_id,
        oi.product_id,
        oi.quantity
    from order_items as oi
    where oi.order_id = any(%(order_ids)s::bigint[])
),

totals as (
    select
        product_id,
        sum(quantity) as quantity
    from lines
    group by product_id
),

sold as (
    update inventory as i
    set
        on_hand = i.on_hand - t.quantity,
        reserved = i.reserved - t.quantity,
        version = i.version + 1,
        updated_at = now()
    from totals as t
    where i.product_id = t.product_id
    returning i.product_id, i.location_id, i.on_hand + t.quantity as on_hand_before
)

insert into stock_movements (product_id, location_id, delta, on_hand_after, kind, reason, order_id, actor)
select
    l.product_id,
    s.location_id,
    -l.quantity as delta,
    s.on_hand_before - sum(l.quantity) over (
        partition by l.product_id order by l.order_id
    ) as on_hand_after,
    'sale' as kind,
    'order ' || l.order_id as reason,
    l.order_id,
    %(actor)s as actor
from lines as l
inner join sold as s on l.product_id = s.product_id;

-- name: set_order_states :many
-- Moves many orders to their next states in one statement (one row each) and returns them as
-- stored; the caller holds their row locks (lock_orders). `orders` is a JSON array of the
-- orders as they are to be, one object each (keys other than the columns below are ignored):
-- one parameter that the caller encodes in one call, where an array per column cost a worker
-- more CPU to dump than the rest of the statement.
update orders as o
set
    status = u.status,
    attempts = u.attempts,
    next_attempt_at = u.next_attempt_at,
    last_error = u.last_error,
    payment_status = u.payment_status,
    payment_attempts = u.payment_attempts,
    charge_id = u.charge_id,
    reserved_at = u.reserved_at,
    finished_at = case when u.status in ('processed', 'failed', 'cancelled') then now() end,
    updated_at = now()
from
    jsonb_to_recordset(%(orders)s::jsonb) as u (
        id bigint,
        status text,
        attempts integer,
        next_attempt_at timestamptz,
        last_error text,
        payment_status text,
        payment_attempts integer,
        charge_id text,
        reserved_at timestamptz
    )
where o.id = u.id
returning
    o.id,
    o.status,
    o.customer_ref,
    o.total_cents,
    o.attempts,
    o.next_attempt_at,
    o.last_error,
    o.payment_status,
    o.payment_attempts,
    o.charge_id,
    o.reserved_at,
    o.finished_at,
    o.created_at,
    o.updated_at,
    o.refunded_cents,
    o.refund_status,
    o.fulfillment_status;

-- name: insert_order_logs :exec
-- Many order_logs rows in one statement, in the order given: `logs` is a JSON array of
-- {order_id, attempt, status, error_message, details} objects (one parameter, as in
-- set_order_states).
insert into order_logs (order_id, attempt, status, error_message, details, actor)
select
    (l.log ->> 'order_id')::bigint as order_id,
    (l.log ->> 'attempt')::integer as attempt,
    l.log ->> 'status' as status,
    l.log ->> 'error_message' as error_message,
    l.log -> 'details' as details,
    %(actor)s as actor
from jsonb_array_elements(%(logs)s::jsonb) with ordinality as l (log, n)
order by l.n;

-- name: wake_orders_for_product :execrows
-- After a restock: jobs of pending orders that name the product run now instead of after
-- their backoff.
update jobs
set run_after = now(), updated_at = now()
where
    status = 'ready'
    and kind = %(kind)s
    and run_after > now()
    and (payload ->> 'order_id')::bigint in (
        select oi.order_id
        from order_items as oi
        inner join orders as o on oi.order_id = o.id
        where oi.product_id = %(product_id)s and o.status = 'pending'
    );
