-- name: insert_fulfillment :one
-- A fulfillment of a paid order, its items, and the items' shipped counts, in one statement (so
-- the fulfillment.created trigger, which fires at its end, sees the items). `items` is a JSON
-- array of {product_id, quantity}; the caller holds the order locked and checked the bounds.
with fulfillment as (
    insert into fulfillments (order_id, client_id, carrier, tracking_number, created_by)
    select
        o.id as order_id,
        o.client_id,
        %(carrier)s::text as carrier,
        %(tracking_number)s::text as tracking_number,
        %(actor)s::text as created_by
    from orders as o
    where o.id = %(order_id)s
    returning id
),

lines as (
    select
        line.product_id,
        line.quantity
    from jsonb_to_recordset(%(items)s::jsonb) as line (product_id bigint, quantity integer)
),

shipped as (
    insert into fulfillment_items (fulfillment_id, product_id, quantity)
    select
        fulfillment.id as fulfillment_id,
        lines.product_id,
        lines.quantity
    from fulfillment
    cross join lines
),

counted as (
    update order_items as oi
    set fulfilled_quantity = oi.fulfilled_quantity + lines.quantity
    from lines
    where oi.order_id = %(order_id)s and oi.product_id = lines.product_id
)

select id from fulfillment;

-- name: update_fulfillment_status :execrows
-- Sets the order's fulfillment_status from its items' counts (cancelled units are not left to
-- ship), when it changed.
update orders as o
set
    fulfillment_status = s.status,
    updated_at = now()
from (
    select
        case
            when sum(oi.fulfilled_quantity) = 0 then 'unfulfilled'
            when sum(oi.quantity - oi.fulfilled_quantity - oi.cancelled_quantity) = 0 then 'fulfilled'
            else 'partially_fulfilled'
        end as status
    from order_items as oi
    where oi.order_id = %(order_id)s
) as s
where o.id = %(order_id)s and o.fulfillment_status <> s.status;

-- name: get_fulfillment :one
-- One fulfillment as the API shows it (the data of fulfillment.created).
select fulfillment_event_data(f)::text as data
from fulfillments as f
where f.id = %(id)s;

-- name: list_fulfillments_of_order :many
select fulfillment_event_data(f)::text as data
from fulfillments as f
where f.order_id = %(order_id)s and f.id > %(after_id)s
order by f.id
limit %(limit)s;
