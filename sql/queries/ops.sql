-- The operators' views across domains (ops/): orders by status, refunds and orders to ship for
-- the stats, and the dashboard's (GET /dashboard) time series, one row per minute of the last
-- `minutes` minutes, the current one included, with zeros for the minutes where nothing
-- happened, and its low-stock panel, the most urgent stock rows.

-- name: orders_finished_per_minute :many
-- Orders that reached each final status per minute, by orders.finished_at. The range on
-- finished_at is read through the partial index orders_finished_at_idx, so the cost follows
-- the orders finished in the window, not the size of the table.
with minutes as (
    select
        generate_series(
            date_trunc('minute', now()) - make_interval(mins => %(minutes)s::integer - 1),
            date_trunc('minute', now()),
            interval '1 minute'
        ) as minute
),

finished as (
    select
        status,
        date_trunc('minute', finished_at) as minute
    from orders
    where finished_at >= date_trunc('minute', now()) - make_interval(mins => %(minutes)s::integer - 1)
)

select
    m.minute,
    count(*) filter (where f.status = 'processed') as processed,
    count(*) filter (where f.status = 'failed') as failed,
    count(*) filter (where f.status = 'cancelled') as cancelled
from minutes as m
left join finished as f on m.minute = f.minute
group by m.minute
order by m.minute;

-- name: low_stock_products :many
-- The dashboard's low-stock panel: live products whose available is at or below their reorder
-- point, or zero (out of stock, with or without a reorder point), the lowest available first,
-- at most `limit`. Reads every inventory row (one per product) on each reload.
select
    i.product_id,
    p.name,
    i.on_hand,
    i.reserved,
    i.on_hand - i.reserved as available,
    i.reorder_point
from inventory as i
inner join products as p on i.product_id = p.id
where
    p.deleted_at is null
    and (i.on_hand - i.reserved <= i.reorder_point or i.on_hand - i.reserved = 0)
order by available, i.product_id
limit %(limit)s;

-- name: order_pipeline_by_status :many
-- Orders by status, every status in the order an order moves through them: how many are in
-- flight now (pending, reserved) and since when, and how many reached each status in the last
-- hour. Index-served (orders_status_idx for the ones in flight, orders_finished_at_idx for the
-- last hour), so a scrape or a dashboard reload costs the orders in flight and the last hour's,
-- not the whole table (the order_pipeline view, which counts every order, is for psql).
with in_flight as (
    select
        status,
        count(*) as orders,
        extract(epoch from now() - min(created_at))::float8 as oldest_age_s
    from orders
    where status in ('pending', 'reserved')
    group by status
),

finished as (
    select
        status,
        count(*) as orders
    from orders
    where finished_at > now() - interval '1 hour'
    group by status
)

select
    s.status,
    coalesce(i.orders, 0) as in_flight,
    coalesce(i.oldest_age_s, 0) as oldest_age_s,
    coalesce(f.orders, 0) as finished_last_hour
from unnest(array['pending', 'reserved', 'processed', 'failed', 'cancelled']) with ordinality as s (status, n)
left join in_flight as i on s.status = i.status
left join finished as f on s.status = f.status
order by s.n;

-- name: refund_stats :one
-- Refunds pending now and since when (through refunds_pending_idx), and how many finished in the
-- last hour with the amount the succeeded ones gave back. With no index on finished_at yet, the
-- last hour's figures read every refund row.
with pending as (
    select
        count(*) as refunds,
        extract(epoch from now() - min(created_at))::float8 as oldest_age_s
    from refunds
    where status = 'pending'
),

finished as (
    select
        count(*) filter (where status = 'succeeded') as succeeded,
        count(*) filter (where status = 'failed') as failed,
        coalesce(sum(amount_cents) filter (where status = 'succeeded'), 0)::bigint as refunded_cents
    from refunds
    where finished_at > now() - interval '1 hour'
)

select
    p.refunds as pending,
    coalesce(p.oldest_age_s, 0) as oldest_pending_age_s,
    f.succeeded as succeeded_last_hour,
    f.failed as failed_last_hour,
    f.refunded_cents as refunded_cents_last_hour
from pending as p
cross join finished as f;

-- name: orders_to_ship :one
-- Processed orders with units left to ship (unfulfilled or partially_fulfilled, and a unit
-- neither shipped nor cancelled), and how long the oldest of them has waited since it was
-- paid; the candidates come from the partial index orders_to_ship_idx.
select
    count(*) filter (where o.fulfillment_status = 'unfulfilled') as unfulfilled,
    count(*) filter (where o.fulfillment_status = 'partially_fulfilled') as partially_fulfilled,
    coalesce(extract(epoch from now() - min(o.finished_at))::float8, 0) as oldest_age_s
from orders as o
where
    o.status = 'processed'
    and o.fulfillment_status <> 'fulfilled'
    and exists (
        select from order_items as oi
        where oi.order_id = o.id and oi.quantity > oi.fulfilled_quantity + oi.cancelled_quantity
    );
