-- migrate:up
set local lock_timeout = '5s';
set local statement_timeout = '30s';

create table orders (
    id bigint generated always as identity primary key,
    status text not null default 'pending'
    check (status in ('pending', 'reserved', 'processed', 'failed', 'cancelled')),
    customer_ref text check (customer_ref is null or length(customer_ref) <= 200),
    total_cents bigint not null check (total_cents >= 0),
    idempotency_key text check (idempotency_key is null or length(idempotency_key) <= 255),
    request_hash text,
    attempts integer not null default 0,
    next_attempt_at timestamptz,
    last_error text,
    payment_status text not null default 'none'
    check (payment_status in ('none', 'pending', 'succeeded', 'declined', 'unknown', 'not_charged')),
    payment_attempts integer not null default 0,
    charge_id text,
    reserved_at timestamptz,
    finished_at timestamptz,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);

create unique index orders_idempotency_key_key on orders (idempotency_key);
create index orders_status_idx on orders (status, id);

create table order_items (
    order_id bigint not null references orders (id),
    product_id bigint not null references products (id),
    quantity integer not null check (quantity >= 1),
    unit_price_cents bigint not null check (unit_price_cents >= 0),
    primary key (order_id, product_id)
);

create index order_items_product_id_idx on order_items (product_id);

create table order_logs (
    id bigint generated always as identity primary key,
    order_id bigint not null references orders (id),
    attempt integer not null,
    status text not null,
    processed_at timestamptz not null default now(),
    error_message text,
    details jsonb not null default '{}'
);

create index order_logs_order_id_idx on order_logs (order_id, id);

comment on table orders is 'One row per order. Status moves pending -> reserved -> processed, or to failed / cancelled; processed, failed and cancelled are final.';
comment on column orders.status is 'pending: accepted, waiting or retrying for stock; reserved: stock held, payment in flight; processed: paid and stock deducted; failed: gave up (see last_error); cancelled.';
comment on column orders.total_cents is 'Sum of quantity * unit_price_cents of its items, fixed at placement; the amount charged.';
comment on column orders.idempotency_key is 'Idempotency-Key header of POST /orders; the same key replays this order.';
comment on column orders.request_hash is 'SHA-256 of the canonical request body, to refuse a reused key with a different body.';
comment on column orders.attempts is 'Reservation attempts made so far.';
comment on column orders.next_attempt_at is 'When the next attempt is due while the order waits for stock or the payment provider.';
comment on column orders.payment_status is 'none (not tried), pending (a charge request is in flight), succeeded, declined, unknown (the provider did not answer: never released until it says there is no charge), not_charged (the provider confirmed no charge).';
comment on column orders.charge_id is 'The provider''s charge id once it succeeded.';
comment on column orders.reserved_at is 'When stock was reserved; a reservation without a payment conclusion past its TTL goes to reconciliation.';
comment on table order_items is 'The lines of an order, with the unit price fixed at placement.';
comment on table order_logs is 'Every processing attempt and outcome of an order, append-only.';
comment on column order_logs.attempt is 'The order''s attempt number this row belongs to.';
comment on column order_logs.status is 'What happened: placed, reserved, out_of_stock, paid, declined, payment_error, processed, failed, cancelled, ...';
comment on column order_logs.details is 'Structured facts of the attempt (missing stock per product, provider answer, worker id).';

-- migrate:down
-- The down migration drops only what its up created.
-- squawk-ignore ban-drop-table
drop table order_logs;
-- squawk-ignore ban-drop-table
drop table order_items;
-- squawk-ignore ban-drop-table
drop table orders;
