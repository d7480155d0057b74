-- migrate:up
-- Events and webhooks (docs/events.md): the outbox, the endpoints that subscribe to it and the
-- record of every delivery attempt, and the triggers that write an event in the transaction of
-- the change it describes. Triggers, not application code, so that no path that changes an
-- order, a stock level or a product (the API, the workers' batch statements, reconcile, stock
-- imports, an operator's psql) can commit the change without its event. They are statement
-- triggers over transition tables: one insert per statement, however many rows it changed.
-- Creating a trigger takes SHARE ROW EXCLUSIVE on its table for an instant (reads go on);
-- lock_timeout bounds the wait and `invorder migrate up` retries the file.
set local lock_timeout = '1s';
set local statement_timeout = '10s';

create table events (
    id bigint generated always as identity primary key,
    -- The writing transaction, whose commit order event_commits records.
    xid xid8 not null default pg_current_xact_id(),
    type text not null check (type ~ '^[a-z_]+\.[a-z_]+$'),
    -- No foreign key: the order it comes from holds one already, and a key check per event
    -- would lock the client's row from every writing transaction at once.
    client_id bigint,
    subject_id bigint not null,
    data jsonb not null,
    created_at timestamptz not null default now()
) with (autovacuum_vacuum_scale_factor = 0.02, autovacuum_analyze_scale_factor = 0.02);

-- squawk-ignore require-concurrent-index-creation
create index events_xid_id_idx on events (xid, id);
-- squawk-ignore require-concurrent-index-creation
create index events_created_at_idx on events (created_at);

-- The commit order of the transactions that wrote events. A deferred trigger gives each one its
-- `seq` as it commits, under a transaction-level advisory lock held to the end of the commit:
-- such transactions commit one at a time, so seq values become visible in increasing order and
-- a reader that has seen seq n has seen everything below it. The feed's cursor is (seq, event id).
create table event_commits (
    xid xid8 primary key,
    seq bigint unique,
    created_at timestamptz not null default now()
);

create sequence event_commit_seq as bigint;

create table webhook_endpoints (
    id bigint generated always as identity primary key,
    client_id bigint not null references clients (id),
    -- Made with an `ops` key: gets every client's order events, as `ops` reads the feed.
    all_clients boolean not null default false,
    url text not null check (length(url) <= 2000),
    events text[] not null check (cardinality(events) >= 1),
    description text check (description is null or length(description) <= 500),
    enabled boolean not null default true,
    disabled_reason text,
    secret text not null check (secret ~ '^whsec_'),
    previous_secret text check (previous_secret is null or previous_secret ~ '^whsec_'),
    previous_secret_expires_at timestamptz,
    created_by text,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);

-- squawk-ignore require-concurrent-index-creation
create index webhook_endpoints_client_id_idx on webhook_endpoints (client_id, id);

create table webhook_deliveries (
    id bigint generated always as identity primary key,
    endpoint_id bigint not null references webhook_endpoints (id) on delete cascade,
    event_id bigint not null,
    attempt integer not null check (attempt >= 1),
    status_code integer,
    error text,
    latency_ms integer,
    created_at timestamptz not null default now()
);

-- squawk-ignore require-concurrent-index-creation
create index webhook_deliveries_endpoint_id_idx on webhook_deliveries (endpoint_id, id);
-- squawk-ignore require-concurrent-index-creation
create index webhook_deliveries_event_id_idx on webhook_deliveries (event_id, endpoint_id);
-- squawk-ignore require-concurrent-index-creation
create index webhook_deliveries_created_at_idx on webhook_deliveries (created_at);

comment on table events is 'The outbox: one row per change that has an event type, written by triggers in the transaction of the change. Read by GET /api/v1/events in (xid, id) order; deleted after INVORDER_EVENT_RETENTION_S.';
comment on column events.xid is 'The writing transaction (pg_current_xact_id): joins event_commits, whose seq orders the feed.';
comment on table event_commits is 'One row per transaction that wrote events: seq is its place in commit order (set as it commits, one committer at a time), the feed''s cursor.';
comment on column events.client_id is 'The client whose order this is; null for catalog and inventory events, which every client sees.';
comment on column events.subject_id is 'The id of the order or product the event is about.';
comment on column events.data is 'A snapshot of the resource as the API shows it, taken at the change.';
comment on table webhook_endpoints is 'Where events are pushed: one delivery job (kind deliver_webhook) per event and enabled subscribed endpoint, added in the event''s own transaction.';
comment on column webhook_endpoints.events is 'Event types subscribed to, or {*} for all.';
comment on column webhook_endpoints.disabled_reason is 'Why deliveries stopped: a 410 answer, failures past the retry window, or an operator.';
comment on column webhook_endpoints.secret is 'Signing secret (whsec_ + base64), shown once to the client; needed in the clear to sign.';
comment on column webhook_endpoints.previous_secret is 'The secret before the last rotation: deliveries are signed with it too until previous_secret_expires_at.';
comment on table webhook_deliveries is 'Every delivery attempt: status_code null when no answer came; error says why it did not deliver.';

-- Timestamps in event data are written as the API writes them (msgspec): UTC, with "Z", and
-- microseconds only when there are some.
create function api_timestamp(ts timestamptz) returns text
language sql stable
as $$
    select case
        when ts is null then null
        when extract(microseconds from ts)::bigint % 1000000 = 0
            then to_char(ts at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
        else to_char(ts at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
    end
$$;

create function order_event_data(o orders) returns jsonb
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

comment on function order_event_data(orders) is 'An order as GET /api/v1/orders/{id} shows it: the data of order.* events.';

-- PL/pgSQL, not SQL, so that it does not need the categories tables to exist: a database can
-- run this version while the categories migration is held back (bin/migration-under-load),
-- and the API itself shows no categories then (catalog/products.py).
create function product_event_data(p products) returns jsonb
language plpgsql stable
as $$
declare
    in_categories jsonb := '[]'::jsonb;
begin
    if to_regclass('product_categories') is not null then
        select coalesce(jsonb_agg(jsonb_build_object('id', c.id, 'name', c.name) order by c.name_key, c.id), '[]'::jsonb)
        into in_categories
        from product_categories as pc
        inner join categories as c on pc.category_id = c.id
        where pc.product_id = p.id;
    end if;
    return jsonb_build_object(
        'id', p.id,
        'name', p.name,
        'sku', p.sku,
        'description', p.description,
        'price_cents', p.price_cents,
        'version', p.version,
        'created_at', api_timestamp(p.created_at),
        'updated_at', api_timestamp(p.updated_at),
        'categories', in_categories
    );
end
$$;

comment on function product_event_data(products) is 'A product as GET /api/v1/products/{id} shows it: the data of product.* events.';

create function emit_order_placed_events() returns trigger
language plpgsql
as $$
begin
    insert into events (type, client_id, subject_id, data)
    select 'order.placed', n.client_id, n.id, order_event_data(n)
    from new_rows as n
    order by n.id;
    return null;
end
$$;

create function emit_order_final_events() returns trigger
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

-- Crossings are measured on available (on_hand - reserved) against the reorder point the row
-- has after the change, so setting a reorder point alone never emits anything.
create function emit_inventory_events() returns trigger
language plpgsql
as $$
begin
    insert into events (type, subject_id, data)
    select
        crossing.type,
        n.product_id,
        jsonb_build_object(
            'product_id', n.product_id,
            'on_hand', n.on_hand,
            'reserved', n.reserved,
            'available', n.on_hand - n.reserved,
            'reorder_point', n.reorder_point
        )
    from new_rows as n
    inner join old_rows as o on n.product_id = o.product_id
    cross join lateral (
        values
        (1, 'inventory.low_stock',
            n.reorder_point is not null
            and o.on_hand - o.reserved > n.reorder_point
            and n.on_hand - n.reserved <= n.reorder_point),
        (2, 'inventory.out_of_stock',
            o.on_hand - o.reserved > 0 and n.on_hand - n.reserved <= 0),
        (3, 'inventory.restocked',
            o.on_hand - o.reserved <= coalesce(n.reorder_point, 0)
            and n.on_hand - n.reserved > coalesce(n.reorder_point, 0))
    ) as crossing (rank, type, crossed)
    where crossing.crossed
    order by n.product_id, crossing.rank;
    return null;
end
$$;

create function emit_product_created_events() returns trigger
language plpgsql
as $$
begin
    insert into events (type, subject_id, data)
    select 'product.created', n.id, product_event_data(n)
    from new_rows as n
    order by n.id;
    return null;
end
$$;

create function emit_product_changed_events() returns trigger
language plpgsql
as $$
begin
    insert into events (type, subject_id, data)
    select
        case when n.deleted_at is not null then 'product.deleted' else 'product.updated' end,
        n.id,
        product_event_data(n)
    from new_rows as n
    inner join old_rows as o on n.id = o.id
    where o.deleted_at is null
        and (n.deleted_at is not null or (n.name, n.sku, n.description, n.price_cents)
            is distinct from (o.name, o.sku, o.description, o.price_cents))
    order by n.id;
    return null;
end
$$;

-- One delivery job per new event and enabled endpoint subscribed to its type that may see it
-- (its client's orders, every catalog event; every order for an all_clients endpoint), and one
-- notification per statement to wake the workers. Priority 150: after order jobs (100), so
-- that deliveries use the workers' spare time and never slow orders down (docs/events.md).
create function fan_out_events() returns trigger
language plpgsql
as $$
declare
    added bigint;
begin
    insert into jobs (kind, payload, priority)
    select 'deliver_webhook', jsonb_build_object('event_id', e.id, 'endpoint_id', w.id), 150
    from new_events as e
    inner join webhook_endpoints as w
        on w.enabled
        and ('*' = any(w.events) or e.type = any(w.events))
        and (e.client_id is null or w.all_clients or e.client_id = w.client_id)
    order by e.id, w.id;
    get diagnostics added = row_count;
    if added > 0 then
        perform pg_notify('invorder_jobs', 'deliver_webhook');
    end if;
    if exists (select 1 from new_events) then
        insert into event_commits (xid) values (pg_current_xact_id()) on conflict (xid) do nothing;
    end if;
    return null;
end
$$;

-- At commit (deferred), once per transaction that wrote events: wait for the previous such
-- commit to end, then take the next seq. The lock is taken after every other lock of the
-- transaction, by a transaction that is only committing, so it cannot deadlock.
create function stamp_event_commit() returns trigger
language plpgsql
as $$
begin
    perform pg_advisory_xact_lock(hashtextextended('invorder.event_commits', 0));
    update event_commits set seq = nextval('event_commit_seq') where xid = new.xid;
    return null;
end
$$;

create constraint trigger event_commits_stamp after insert on event_commits
deferrable initially deferred
for each row execute function stamp_event_commit();

create trigger orders_placed_events after insert on orders
referencing new table as new_rows
for each statement execute function emit_order_placed_events();

create trigger orders_final_events after update on orders
referencing old table as old_rows new table as new_rows
for each statement execute function emit_order_final_events();

create trigger inventory_events after update on inventory
referencing old table as old_rows new table as new_rows
for each statement execute function emit_inventory_events();

create trigger products_created_events after insert on products
referencing new table as new_rows
for each statement execute function emit_product_created_events();

create trigger products_changed_events after update on products
referencing old table as old_rows new table as new_rows
for each statement execute function emit_product_changed_events();

create trigger events_fan_out after insert on events
referencing new table as new_events
for each statement execute function fan_out_events();

-- migrate:down
set local lock_timeout = '1s';
set local statement_timeout = '10s';

-- The down migration drops only what its up created: the triggers and functions first.
drop trigger event_commits_stamp on event_commits;
drop trigger events_fan_out on events;
drop trigger products_changed_events on products;
drop trigger products_created_events on products;
drop trigger inventory_events on inventory;
drop trigger orders_final_events on orders;
drop trigger orders_placed_events on orders;
-- squawk-ignore ban-drop-function
drop function stamp_event_commit();
-- squawk-ignore ban-drop-function
drop function fan_out_events();
-- squawk-ignore ban-drop-function
drop function emit_product_changed_events();
-- squawk-ignore ban-drop-function
drop function emit_product_created_events();
-- squawk-ignore ban-drop-function
drop function emit_inventory_events();
-- squawk-ignore ban-drop-function
drop function emit_order_final_events();
-- squawk-ignore ban-drop-function
drop function emit_order_placed_events();
-- squawk-ignore ban-drop-function
drop function product_event_data(products);
-- squawk-ignore ban-drop-function
drop function order_event_data(orders);
-- squawk-ignore ban-drop-function
drop function api_timestamp(timestamptz);
-- The down migration drops only what its up created.
-- squawk-ignore ban-drop-table
drop table webhook_deliveries;
-- squawk-ignore ban-drop-table
drop table webhook_endpoints;
-- squawk-ignore ban-drop-table
drop table event_commits;
-- squawk-ignore ban-drop-sequence
drop sequence event_commit_seq;
-- squawk-ignore ban-drop-table
drop table events;
