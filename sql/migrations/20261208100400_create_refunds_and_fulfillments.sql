-- migrate:up
-- After payment: fulfillments, refunds and their items (new tables, so their indexes need no
-- concurrent build), their event triggers, and the order events' new fields and types
-- (create or replace: no lock on orders). The foreign keys to orders take SHARE ROW EXCLUSIVE
-- on it for the instant this file takes to commit; orders is the only existing table it locks.
set local lock_timeout = '1s';
set local statement_timeout = '10s';

create table fulfillments (
    id bigint generated always as identity primary key,
    order_id bigint not null references orders (id),
    client_id bigint not null,
    carrier text check (carrier is null or length(carrier) <= 100),
    tracking_number text check (tracking_number is null or length(tracking_number) <= 200),
    created_by text,
    created_at timestamptz not null default now()
);

-- squawk-ignore require-concurrent-index-creation
create index fulfillments_order_id_idx on fulfillments (order_id, id);

create table fulfillment_items (
    fulfillment_id bigint not null references fulfillments (id),
    product_id bigint not null,
    quantity integer not null check (quantity >= 1),
    primary key (fulfillment_id, product_id)
);

create table refunds (
    id bigint generated always as identity primary key,
    order_id bigint not null references orders (id),
    client_id bigint not null,
    amount_cents bigint not null check (amount_cents >= 1),
    status text not null default 'pending' check (status in ('pending', 'succeeded', 'failed')),
    reason text check (
        reason is null or reason in ('requested_by_customer', 'returned', 'damaged', 'duplicate', 'fraudulent', 'other')
    ),
    note text check (note is null or length(note) <= 1000),
    -- The client whose key asked for the refund (an ops key may refund another client's order):
    -- Idempotency-Keys are that client's.
    key_client_id bigint,
    idempotency_key text check (idempotency_key is null or length(idempotency_key) <= 255),
    request_hash text,
    attempts integer not null default 0,
    last_error text,
    provider_refund_id text,
    failure_reason text,
    created_by text,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    finished_at timestamptz
);

-- squawk-ignore require-concurrent-index-creation
create unique index refunds_key_client_idempotency_key_idx on refunds (key_client_id, idempotency_key);
-- squawk-ignore require-concurrent-index-creation
create index refunds_order_id_idx on refunds (order_id, id);
-- squawk-ignore require-concurrent-index-creation
create index refunds_pending_idx on refunds (created_at) where status = 'pending';
-- squawk-ignore require-concurrent-index-creation
create index refunds_finished_at_idx on refunds (finished_at) where finished_at is not null;

create table refund_items (
    refund_id bigint not null references refunds (id),
    product_id bigint not null,
    restock text not null check (restock in ('none', 'cancel', 'return')),
    quantity integer not null check (quantity >= 1),
    primary key (refund_id, product_id, restock)
);

comment on table fulfillments is 'Shipments of paid orders (POST /api/v1/orders/{id}/fulfillments); never updated.';
comment on table fulfillment_items is 'Units of each product a fulfillment shipped.';
comment on table refunds is 'Money given back for an order (POST /api/v1/orders/{id}/refunds, or cancelling a paid order). pending until the provider says succeeded or failed; the process_refund job asks it, under the key invorder-refund-<id>-<created_at in microseconds>.';
comment on column refunds.client_id is 'The client whose order it is (its keys see the refund).';
comment on column refunds.key_client_id is 'The client whose key asked for it; its Idempotency-Keys are unique per this client.';
comment on column refunds.idempotency_key is 'The asking client''s Idempotency-Key (unique per key_client_id); null for the refund of a cancelled order.';
comment on column refunds.attempts is 'Requests sent to the provider without a definite answer so far.';
comment on column refunds.failure_reason is 'Why the provider refused the refund (status failed).';
comment on table refund_items is 'Units of a refund, by product and restock: none (money only), cancel (not shipped, back on hand), return (shipped, came back, back on hand).';

-- Event data, as the API shows each resource. Orders gain the after-payment fields.
create or replace function order_event_data(o orders) returns jsonb
language sql stable
as $$
    select jsonb_build_object(
        'id', o.id,
        'status', o.status,
        'customer_ref', o.customer_ref,
        'items', coalesce((
            select jsonb_agg(jsonb_build_object(
                'product_id', i.product_id,
                'quantity', i.quantity,
                'unit_price_cents', i.unit_price_cents,
                'fulfilled_quantity', i.fulfilled_quantity,
                'refunded_quantity', i.refunded_quantity,
                'restocked_quantity', i.cancelled_quantity + i.returned_quantity
            ) order by i.product_id)
            from order_items as i
            where i.order_id = o.id
        ), '[]'::jsonb),
        'total_cents', o.total_cents,
        'attempts', o.attempts,
        'next_attempt_at', api_timestamp(o.next_attempt_at),
        'last_error', o.last_error,
        'payment', jsonb_build_object(
            'status', o.payment_status, 'attempts', o.payment_attempts, 'charge_id', o.charge_id
        ),
        'refunded_cents', o.refunded_cents,
        'refund_status', o.refund_status,
        'fulfillment_status', o.fulfillment_status,
        'created_at', api_timestamp(o.created_at),
        'updated_at', api_timestamp(o.updated_at),
        'finished_at', api_timestamp(o.finished_at)
    )
$$;

create function refund_event_data(r refunds) returns jsonb
language sql stable
as $$
    select jsonb_build_object(
        'id', r.id,
        'order_id', r.order_id,
        'amount_cents', r.amount_cents,
        'status', r.status,
        'items', coalesce((
            select jsonb_agg(jsonb_build_object(
                'product_id', i.product_id, 'quantity', i.quantity, 'restock', i.restock
            ) order by i.product_id, i.restock)
            from refund_items as i
            where i.refund_id = r.id
        ), '[]'::jsonb),
        'reason', r.reason,
        'note', r.note,
        'failure_reason', r.failure_reason,
        'provider_refund_id', r.provider_refund_id,
        'created_at', api_timestamp(r.created_at),
        'finished_at', api_timestamp(r.finished_at)
    )
$$;

comment on function refund_event_data(refunds) is 'A refund as GET /api/v1/refunds/{id} shows it: the data of refund.* events.';

create function fulfillment_event_data(f fulfillments) returns jsonb
language sql stable
as $$
    select jsonb_build_object(
        'id', f.id,
        'order_id', f.order_id,
        'items', coalesce((
            select jsonb_agg(jsonb_build_object('product_id', i.product_id, 'quantity', i.quantity) order by i.product_id)
            from fulfillment_items as i
            where i.fulfillment_id = f.id
        ), '[]'::jsonb),
        'carrier', f.carrier,
        'tracking_number', f.tracking_number,
        'created_at', api_timestamp(f.created_at)
    )
$$;

comment on function fulfillment_event_data(fulfillments) is 'A fulfillment as GET /api/v1/orders/{id}/fulfillments shows it: the data of fulfillment.created.';

-- One trigger on order updates, as before: the final statuses, and now order.fulfilled and
-- order.refunded when the order becomes fully fulfilled or fully refunded.
create or replace function emit_order_final_events() returns trigger
language plpgsql
as $$
begin
    insert into events (type, client_id, subject_id, data)
    select changed.type, n.client_id, n.id, order_event_data(n)
    from new_rows as n
    inner join old_rows as o on n.id = o.id
    cross join lateral (
        values
        (1, 'order.' || n.status, n.status <> o.status and n.status in ('processed', 'failed', 'cancelled')),
        (2, 'order.fulfilled', n.fulfillment_status = 'fulfilled' and o.fulfillment_status <> 'fulfilled'),
        (3, 'order.refunded', n.refund_status = 'refunded' and o.refund_status <> 'refunded')
    ) as changed (rank, type, happened)
    where changed.happened
    order by n.id, changed.rank;
    return null;
end
$$;

-- The items of a refund or a fulfillment are written in the statement that writes it, so these
-- statement triggers (which fire at its end) see them.
create function emit_refund_created_events() returns trigger
language plpgsql
as $$
begin
    insert into events (type, client_id, subject_id, data)
    select 'refund.created', n.client_id, n.id, refund_event_data(n)
    from new_rows as n
    order by n.id;
    return null;
end
$$;

create function emit_refund_finished_events() returns trigger
language plpgsql
as $$
begin
    insert into events (type, client_id, subject_id, data)
    select 'refund.' || n.status, n.client_id, n.id, refund_event_data(n)
    from new_rows as n
    inner join old_rows as o on n.id = o.id
    where n.status <> o.status and n.status in ('succeeded', 'failed')
    order by n.id;
    return null;
end
$$;

create function emit_fulfillment_created_events() returns trigger
language plpgsql
as $$
begin
    insert into events (type, client_id, subject_id, data)
    select 'fulfillment.created', n.client_id, n.id, fulfillment_event_data(n)
    from new_rows as n
    order by n.id;
    return null;
end
$$;

create trigger refunds_created_events after insert on refunds
referencing new table as new_rows
for each statement execute function emit_refund_created_events();

create trigger refunds_finished_events after update on refunds
referencing old table as old_rows new table as new_rows
for each statement execute function emit_refund_finished_events();

create trigger fulfillments_created_events after insert on fulfillments
referencing new table as new_rows
for each statement execute function emit_fulfillment_created_events();

-- migrate:down
set local lock_timeout = '1s';
set local statement_timeout = '10s';

-- The down migration drops only what its up added, and puts back the previous functions.
drop trigger fulfillments_created_events on fulfillments;
drop trigger refunds_finished_events on refunds;
drop trigger refunds_created_events on refunds;
-- squawk-ignore ban-drop-function
drop function emit_fulfillment_created_events();
-- squawk-ignore ban-drop-function
drop function emit_refund_finished_events();
-- squawk-ignore ban-drop-function
drop function emit_refund_created_events();
-- squawk-ignore ban-drop-function
drop function fulfillment_event_data(fulfillments);
-- squawk-ignore ban-drop-function
drop function refund_event_data(refunds);

create or replace function emit_order_final_events() returns trigger
language plpgsql
as $$
begin
    insert into events (type, client_id, subject_id, data)
    select 'order.' || n.status, n.client_id, n.id, order_event_data(n)
    from new_rows as n
    inner join old_rows as o on n.id = o.id
    where n.status <> o.status and n.status in ('processed', 'failed', 'cancelled')
    order by n.id;
    return null;
end
$$;

create or replace function order_event_data(o orders) returns jsonb
language sql stable
as $$
    select jsonb_build_object(
        'id', o.id,
        'status', o.status,
        'customer_ref', o.customer_ref,
        'items', coalesce((
            select jsonb_agg(jsonb_build_object(
                'product_id', i.product_id,
                'quantity', i.quantity,
                'unit_price_cents', i.unit_price_cents
            ) order by i.product_id)
            from order_items as i
            where i.order_id = o.id
        ), '[]'::jsonb),
        'total_cents', o.total_cents,
        'attempts', o.attempts,
        'next_attempt_at', api_timestamp(o.next_attempt_at),
        'last_error', o.last_error,
        'payment', jsonb_build_object(
            'status', o.payment_status, 'attempts', o.payment_attempts, 'charge_id', o.charge_id
        ),
        'created_at', api_timestamp(o.created_at),
        'updated_at', api_timestamp(o.updated_at),
        'finished_at', api_timestamp(o.finished_at)
    )
$$;

-- squawk-ignore ban-drop-table
drop table refund_items;
-- squawk-ignore ban-drop-table
drop table refunds;
-- squawk-ignore ban-drop-table
drop table fulfillment_items;
-- squawk-ignore ban-drop-table
drop table fulfillments;
