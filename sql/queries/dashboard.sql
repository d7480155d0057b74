-- The dashboard's queries (GET /dashboard). Its time series: one row per minute of the last
-- `minutes` minutes, the current one included, with zeros for the minutes where nothing
-- happened. Its low-stock panel: the most urgent stock rows.

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
