-- name: find_refund_by_idempotency_key :one
-- The refund the client asked for with this key (keys are per asking client).
select
    id,
    order_id,
    request_hash
from refunds
where key_client_id = %(key_client_id)s and idempotency_key = %(idempotency_key)s;

-- name: refunds_total_not_failed :one
-- What the order's refunds that are not failed add up to (the refundable amount is the charge
-- less this); the caller holds the order locked, as every writer of its refunds does.
select coalesce(sum(amount_cents), 0)::bigint
from refunds
where order_id = %(order_id)s and status <> 'failed';

-- name: insert_refund :one
-- A pending refund, its items, and the items' refunded, cancelled and returned counts, in one
-- statement (so the refund.created trigger, which fires at its end, sees the items). `items`
-- is a JSON array of {product_id, quantity, restock}; the caller holds the order locked and
-- checked every bound. No row when the asking client's Idempotency-Key is taken.
with refund as (
    insert into refunds (
        order_id, client_id, amount_cents, reason, note, key_client_id, idempotency_key, request_hash, created_by
    )
    select
        o.id as order_id,
        o.client_id,
        %(amount_cents)s::bigint as amount_cents,
        %(reason)s::text as reason,
        %(note)s::text as note,
        %(key_client_id)s::bigint as key_client_id,
        %(idempotency_key)s::text as idempotency_key,
        %(request_hash)s::text as request_hash,
        %(actor)s::text as created_by
    from orders as o
    where o.id = %(order_id)s
    on conflict (key_client_id, idempotency_key) do nothing
    returning id, created_at
),

lines as (
    select
        line.product_id,
        line.quantity,
        line.restock
    from jsonb_to_recordset(%(items)s::jsonb) as line (product_id bigint, quantity integer, restock text)
),

refunded_items as (
    insert into refund_items (refund_id, product_id, restock, quantity)
    select
        refund.id as refund_id,
        lines.product_id,
        lines.restock,
        lines.quantity
    from refund
    cross join lines
),

counted as (
    update order_items as oi
    set
        refunded_quantity = oi.refunded_quantity + t.quantity,
        cancelled_quantity = oi.cancelled_quantity + t.cancelled,
        returned_quantity = oi.returned_quantity + t.returned
    from (
        select
            lines.product_id,
            sum(lines.quantity) as quantity,
            coalesce(sum(lines.quantity) filter (where lines.restock = 'cancel'), 0) as cancelled,
            coalesce(sum(lines.quantity) filter (where lines.restock = 'return'), 0) as returned
        from lines
        where exists (select from refund)
        group by lines.product_id
    ) as t
    where oi.order_id = %(order_id)s and oi.product_id = t.product_id
)

select
    id,
    created_at
from refund;

-- name: get_refund :one
-- One refund as the API shows it (the data of refund.* events); with `client_id` set, only
-- when it is that client's (null: any client's, for ops).
select refund_event_data(r)::text as data
from refunds as r
where r.id = %(id)s and (%(client_id)s::bigint is null or r.client_id = %(client_id)s::bigint);

-- name: list_refunds_of_order :many
select refund_event_data(r)::text as data
from refunds as r
where r.order_id = %(order_id)s and r.id > %(after_id)s
order by r.id
limit %(limit)s;

-- name: get_refund_to_send :one
-- What the process_refund job asks the provider for: the refund and its order's charge.
select
    r.id,
    r.order_id,
    r.amount_cents,
    r.status,
    r.attempts,
    r.created_at,
    o.charge_id
from refunds as r
inner join orders as o on r.order_id = o.id
where r.id = %(id)s;

-- name: lock_refund_status :one
-- The refund's status, locked (the caller locked its order first, as every writer does).
select status
from refunds
where id = %(id)s
for update;

-- name: note_refund_attempt :exec
-- A request without a definite answer: counted (when it reached the provider), and why; only
-- while the refund is pending (a slow run must not write onto a concluded one).
update refunds
set
    attempts = attempts + %(tries)s,
    last_error = %(error)s,
    updated_at = now()
where id = %(id)s and status = 'pending';

-- name: finish_refund :one
-- The provider's word on a pending refund: succeeded or failed. Returns its amount.
update refunds
set
    status = %(status)s,
    provider_refund_id = %(provider_refund_id)s,
    failure_reason = %(failure_reason)s,
    last_error = null,
    finished_at = now(),
    updated_at = now()
where id = %(id)s and status = 'pending'
returning amount_cents;

-- name: add_refunded_amount :exec
-- A refund succeeded: the order's refunded_cents and refund_status follow.
update orders
set
    refunded_cents = refunded_cents + %(amount_cents)s,
    refund_status = case
        when refunded_cents + %(amount_cents)s >= total_cents then 'refunded'
        else 'partially_refunded'
    end,
    updated_at = now()
where id = %(order_id)s;

-- name: release_refunded_units :exec
-- A refund failed: its units no longer count as refunded (they may be refunded again). Its
-- cancelled and returned units stay counted: their restock is never undone.
update order_items as oi
set refunded_quantity = oi.refunded_quantity - t.quantity
from (
    select
        ri.product_id,
        sum(ri.quantity) as quantity
    from refund_items as ri
    where ri.refund_id = %(refund_id)s
    group by ri.product_id
) as t
where oi.order_id = %(order_id)s and oi.product_id = t.product_id;
