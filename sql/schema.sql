-- The whole schema that the migrations in sql/migrations build, to read in one place: pg_dump's
-- output as bin/dump-schema writes it. Do not edit it; run bin/dump-schema after adding a migration.
-- Databases change only through the migrations (`invorder migrate up`). Not in this file: dbmate's
-- schema_migrations table, and the rows a migration inserts (the client `default`).

-- pg_dump creates functions before the tables their bodies use: their bodies are not checked here.
set check_function_bodies = false;


--
-- Name: api_timestamp(timestamp with time zone); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.api_timestamp(ts timestamp with time zone) RETURNS text
    LANGUAGE sql STABLE
    AS $$
    select case
        when ts is null then null
        when extract(microseconds from ts)::bigint % 1000000 = 0
            then to_char(ts at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
        else to_char(ts at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
    end
$$;


--
-- Name: emit_fulfillment_created_events(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.emit_fulfillment_created_events() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
begin
    insert into events (type, client_id, subject_id, data)
    select 'fulfillment.created', n.client_id, n.id, fulfillment_event_data(n)
    from new_rows as n
    order by n.id;
    return null;
end
$$;


--
-- Name: emit_inventory_events(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.emit_inventory_events() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
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
            'reorder_point', n.reorder_point,
            'location_id', n.location_id
        )
    from new_rows as n
    inner join old_rows as o on n.product_id = o.product_id and n.location_id = o.location_id
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
    order by n.product_id, n.location_id, crossing.rank;
    return null;
end
$$;


--
-- Name: emit_order_final_events(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.emit_order_final_events() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
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


--
-- Name: emit_order_placed_events(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.emit_order_placed_events() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
begin
    insert into events (type, client_id, subject_id, data)
    select 'order.placed', n.client_id, n.id, order_event_data(n)
    from new_rows as n
    order by n.id;
    return null;
end
$$;


--
-- Name: emit_product_changed_events(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.emit_product_changed_events() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
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


--
-- Name: emit_product_created_events(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.emit_product_created_events() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
begin
    insert into events (type, subject_id, data)
    select 'product.created', n.id, product_event_data(n)
    from new_rows as n
    order by n.id;
    return null;
end
$$;


--
-- Name: emit_refund_created_events(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.emit_refund_created_events() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
begin
    insert into events (type, client_id, subject_id, data)
    select 'refund.created', n.client_id, n.id, refund_event_data(n)
    from new_rows as n
    order by n.id;
    return null;
end
$$;


--
-- Name: emit_refund_finished_events(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.emit_refund_finished_events() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
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


--
-- Name: fan_out_events(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.fan_out_events() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
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


--
-- Name: fulfillments; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.fulfillments (
    id bigint NOT NULL,
    order_id bigint NOT NULL,
    client_id bigint NOT NULL,
    carrier text,
    tracking_number text,
    created_by text,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT fulfillments_carrier_check CHECK (((carrier IS NULL) OR (length(carrier) <= 100))),
    CONSTRAINT fulfillments_tracking_number_check CHECK (((tracking_number IS NULL) OR (length(tracking_number) <= 200)))
);


--
-- Name: TABLE fulfillments; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON TABLE public.fulfillments IS 'Shipments of paid orders (POST /api/v1/orders/{id}/fulfillments); never updated.';


--
-- Name: fulfillment_event_data(public.fulfillments); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.fulfillment_event_data(f public.fulfillments) RETURNS jsonb
    LANGUAGE sql STABLE
    AS $$
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


--
-- Name: FUNCTION fulfillment_event_data(f public.fulfillments); Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON FUNCTION public.fulfillment_event_data(f public.fulfillments) IS 'A fulfillment as GET /api/v1/orders/{id}/fulfillments shows it: the data of fulfillment.created.';


--
-- Name: orders; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.orders (
    id bigint NOT NULL,
    status text DEFAULT 'pending'::text NOT NULL,
    customer_ref text,
    total_cents bigint NOT NULL,
    idempotency_key text,
    request_hash text,
    attempts integer DEFAULT 0 NOT NULL,
    next_attempt_at timestamp with time zone,
    last_error text,
    payment_status text DEFAULT 'none'::text NOT NULL,
    payment_attempts integer DEFAULT 0 NOT NULL,
    charge_id text,
    reserved_at timestamp with time zone,
    finished_at timestamp with time zone,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    client_id bigint DEFAULT 1 NOT NULL,
    refunded_cents bigint DEFAULT 0 NOT NULL,
    refund_status text DEFAULT 'none'::text NOT NULL,
    fulfillment_status text DEFAULT 'unfulfilled'::text NOT NULL,
    CONSTRAINT orders_customer_ref_check CHECK (((customer_ref IS NULL) OR (length(customer_ref) <= 200))),
    CONSTRAINT orders_fulfillment_status_check CHECK ((fulfillment_status = ANY (ARRAY['unfulfilled'::text, 'partially_fulfilled'::text, 'fulfilled'::text]))),
    CONSTRAINT orders_idempotency_key_check CHECK (((idempotency_key IS NULL) OR (length(idempotency_key) <= 255))),
    CONSTRAINT orders_payment_status_check CHECK ((payment_status = ANY (ARRAY['none'::text, 'pending'::text, 'succeeded'::text, 'declined'::text, 'unknown'::text, 'not_charged'::text]))),
    CONSTRAINT orders_refund_status_check CHECK ((refund_status = ANY (ARRAY['none'::text, 'partially_refunded'::text, 'refunded'::text]))),
    CONSTRAINT orders_refunded_cents_check CHECK (((refunded_cents >= 0) AND (refunded_cents <= total_cents))),
    CONSTRAINT orders_status_check CHECK ((status = ANY (ARRAY['pending'::text, 'reserved'::text, 'processed'::text, 'failed'::text, 'cancelled'::text]))),
    CONSTRAINT orders_total_cents_check CHECK ((total_cents >= 0))
);


--
-- Name: TABLE orders; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON TABLE public.orders IS 'One row per order. Status moves pending -> reserved -> processed, or to failed / cancelled; processed, failed and cancelled are final.';


--
-- Name: COLUMN orders.status; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.orders.status IS 'pending: accepted, waiting or retrying for stock; reserved: stock held, payment in flight; processed: paid and stock deducted; failed: gave up (see last_error); cancelled.';


--
-- Name: COLUMN orders.total_cents; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.orders.total_cents IS 'Sum of quantity * unit_price_cents of its items, fixed at placement; the amount charged.';


--
-- Name: COLUMN orders.idempotency_key; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.orders.idempotency_key IS 'Idempotency-Key header of POST /orders; the same key replays this order.';


--
-- Name: COLUMN orders.request_hash; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.orders.request_hash IS 'SHA-256 of the canonical request body, to refuse a reused key with a different body.';


--
-- Name: COLUMN orders.attempts; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.orders.attempts IS 'Reservation attempts made so far.';


--
-- Name: COLUMN orders.next_attempt_at; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.orders.next_attempt_at IS 'When the next attempt is due while the order waits for stock or the payment provider.';


--
-- Name: COLUMN orders.payment_status; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.orders.payment_status IS 'none (not tried), pending (a charge request is in flight), succeeded, declined, unknown (the provider did not answer: never released until it says there is no charge), not_charged (the provider confirmed no charge).';


--
-- Name: COLUMN orders.charge_id; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.orders.charge_id IS 'The provider''s charge id once it succeeded.';


--
-- Name: COLUMN orders.reserved_at; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.orders.reserved_at IS 'When stock was reserved; a reservation without a payment conclusion past its TTL goes to reconciliation.';


--
-- Name: COLUMN orders.client_id; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.orders.client_id IS 'The client whose key placed the order (clients.id); 1 (default) for orders from before API keys.';


--
-- Name: COLUMN orders.refunded_cents; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.orders.refunded_cents IS 'Sum of the order''s succeeded refunds.';


--
-- Name: COLUMN orders.refund_status; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.orders.refund_status IS 'none, partially_refunded, or refunded (refunded_cents = total_cents).';


--
-- Name: COLUMN orders.fulfillment_status; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.orders.fulfillment_status IS 'unfulfilled (no unit shipped), partially_fulfilled (some shipped, some left to ship), fulfilled (some shipped, none left: quantity = fulfilled + cancelled for every item).';


--
-- Name: order_event_data(public.orders); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.order_event_data(o public.orders) RETURNS jsonb
    LANGUAGE sql STABLE
    AS $$
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


--
-- Name: FUNCTION order_event_data(o public.orders); Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON FUNCTION public.order_event_data(o public.orders) IS 'An order as GET /api/v1/orders/{id} shows it: the data of order.* events.';


--
-- Name: products; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.products (
    id bigint NOT NULL,
    name text NOT NULL,
    name_key text GENERATED ALWAYS AS (lower(regexp_replace(btrim(name), '\s+'::text, ' '::text, 'g'::text))) STORED,
    sku text,
    description text,
    price_cents bigint NOT NULL,
    version integer DEFAULT 1 NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    deleted_at timestamp with time zone,
    CONSTRAINT products_description_check CHECK (((description IS NULL) OR (length(description) <= 5000))),
    CONSTRAINT products_name_check CHECK (((btrim(name) <> ''::text) AND (length(name) <= 200))),
    CONSTRAINT products_price_cents_check CHECK ((price_cents >= 0)),
    CONSTRAINT products_sku_check CHECK (((sku IS NULL) OR ((btrim(sku) <> ''::text) AND (length(sku) <= 64))))
);


--
-- Name: TABLE products; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON TABLE public.products IS 'The catalog. A deleted product keeps its row (deleted_at set) so orders that name it keep their history.';


--
-- Name: COLUMN products.name; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.products.name IS 'Display name as the client sent it.';


--
-- Name: COLUMN products.name_key; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.products.name_key IS 'name lower-cased with runs of white space folded: the key that must be unique among live products (index products_name_key).';


--
-- Name: COLUMN products.sku; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.products.sku IS 'Stock keeping unit, unique among live products when present; the key of stock imports.';


--
-- Name: COLUMN products.price_cents; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.products.price_cents IS 'Current unit price in minor units. Orders copy it at placement (order_items.unit_price_cents).';


--
-- Name: COLUMN products.version; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.products.version IS 'Optimistic-concurrency version, bumped on every update; the ETag of GET /products/{id}.';


--
-- Name: COLUMN products.deleted_at; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.products.deleted_at IS 'Set by DELETE /products/{id}; the product then disappears from reads and cannot be ordered.';


--
-- Name: product_event_data(public.products); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.product_event_data(p public.products) RETURNS jsonb
    LANGUAGE plpgsql STABLE
    AS $$
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


--
-- Name: FUNCTION product_event_data(p public.products); Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON FUNCTION public.product_event_data(p public.products) IS 'A product as GET /api/v1/products/{id} shows it: the data of product.* events.';


--
-- Name: refunds; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.refunds (
    id bigint NOT NULL,
    order_id bigint NOT NULL,
    client_id bigint NOT NULL,
    amount_cents bigint NOT NULL,
    status text DEFAULT 'pending'::text NOT NULL,
    reason text,
    note text,
    key_client_id bigint,
    idempotency_key text,
    request_hash text,
    attempts integer DEFAULT 0 NOT NULL,
    last_error text,
    provider_refund_id text,
    failure_reason text,
    created_by text,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    finished_at timestamp with time zone,
    CONSTRAINT refunds_amount_cents_check CHECK ((amount_cents >= 1)),
    CONSTRAINT refunds_idempotency_key_check CHECK (((idempotency_key IS NULL) OR (length(idempotency_key) <= 255))),
    CONSTRAINT refunds_note_check CHECK (((note IS NULL) OR (length(note) <= 1000))),
    CONSTRAINT refunds_reason_check CHECK (((reason IS NULL) OR (reason = ANY (ARRAY['requested_by_customer'::text, 'returned'::text, 'damaged'::text, 'duplicate'::text, 'fraudulent'::text, 'other'::text])))),
    CONSTRAINT refunds_status_check CHECK ((status = ANY (ARRAY['pending'::text, 'succeeded'::text, 'failed'::text])))
);


--
-- Name: TABLE refunds; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON TABLE public.refunds IS 'Money given back for an order (POST /api/v1/orders/{id}/refunds, or cancelling a paid order). pending until the provider says succeeded or failed; the process_refund job asks it, under the key invorder-refund-<id>-<created_at in microseconds>.';


--
-- Name: COLUMN refunds.client_id; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.refunds.client_id IS 'The client whose order it is (its keys see the refund).';


--
-- Name: COLUMN refunds.key_client_id; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.refunds.key_client_id IS 'The client whose key asked for it; its Idempotency-Keys are unique per this client.';


--
-- Name: COLUMN refunds.idempotency_key; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.refunds.idempotency_key IS 'The asking client''s Idempotency-Key (unique per key_client_id); null for the refund of a cancelled order.';


--
-- Name: COLUMN refunds.attempts; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.refunds.attempts IS 'Requests sent to the provider without a definite answer so far.';


--
-- Name: COLUMN refunds.failure_reason; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.refunds.failure_reason IS 'Why the provider refused the refund (status failed).';


--
-- Name: refund_event_data(public.refunds); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.refund_event_data(r public.refunds) RETURNS jsonb
    LANGUAGE sql STABLE
    AS $$
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


--
-- Name: FUNCTION refund_event_data(r public.refunds); Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON FUNCTION public.refund_event_data(r public.refunds) IS 'A refund as GET /api/v1/refunds/{id} shows it: the data of refund.* events.';


--
-- Name: server_run(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.server_run() RETURNS bigint
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$
    select (extract(epoch from pg_postmaster_start_time()) * 1000000)::bigint
$$;


--
-- Name: FUNCTION server_run(); Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON FUNCTION public.server_run() IS 'When this server''s postmaster started, in microseconds since the epoch: a claim''s job is deleted as done only on the same server run.';


--
-- Name: stamp_event_commit(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.stamp_event_commit() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
begin
    perform pg_advisory_xact_lock(hashtextextended('invorder.event_commits', 0));
    update event_commits set seq = nextval('event_commit_seq') where xid = new.xid;
    return null;
end
$$;


--
-- Name: api_keys; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.api_keys (
    id bigint NOT NULL,
    client_id bigint NOT NULL,
    prefix text NOT NULL,
    key_hash bytea NOT NULL,
    scopes text[] NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    created_by text NOT NULL,
    expires_at timestamp with time zone,
    revoked_at timestamp with time zone,
    last_used_at timestamp with time zone,
    CONSTRAINT api_keys_key_hash_check CHECK ((length(key_hash) = 32)),
    CONSTRAINT api_keys_prefix_check CHECK ((prefix ~ '^ik_[A-Za-z0-9_-]{8}$'::text)),
    CONSTRAINT api_keys_scopes_check CHECK (((cardinality(scopes) >= 1) AND (scopes <@ ARRAY['catalog:read'::text, 'catalog:write'::text, 'inventory:read'::text, 'inventory:write'::text, 'orders:read'::text, 'orders:write'::text, 'events:read'::text, 'webhooks:write'::text, 'ops'::text, 'metrics'::text, 'fulfillments:write'::text, 'refunds:write'::text])))
);


--
-- Name: TABLE api_keys; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON TABLE public.api_keys IS 'API keys (Authorization: Bearer ik_...). The key itself is never stored: only its SHA-256 and a short prefix to recognise it.';


--
-- Name: COLUMN api_keys.prefix; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.api_keys.prefix IS 'The first 11 characters of the key (ik_ and 8 more), shown in lists so people can tell keys apart.';


--
-- Name: COLUMN api_keys.key_hash; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.api_keys.key_hash IS 'SHA-256 of the whole key. Keys are 192 random bits, so a fast hash is enough (docs/security.md).';


--
-- Name: COLUMN api_keys.scopes; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.api_keys.scopes IS 'What the key may do (SPEC.md, Access): catalog:read, catalog:write, inventory:read, inventory:write, orders:read, orders:write, events:read, webhooks:write, ops, metrics, fulfillments:write, refunds:write.';


--
-- Name: COLUMN api_keys.created_by; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.api_keys.created_by IS 'Who created it: user@host for the CLI, key:<id> or admin for the ops API.';


--
-- Name: COLUMN api_keys.expires_at; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.api_keys.expires_at IS 'After this the key is refused (401). Null: it does not expire.';


--
-- Name: COLUMN api_keys.revoked_at; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.api_keys.revoked_at IS 'When it was revoked (invorder keys revoke, DELETE /ops/keys/{id}); refused from then on, within the cache bound.';


--
-- Name: COLUMN api_keys.last_used_at; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.api_keys.last_used_at IS 'Last use seen by an API process, written at most once a minute per key and process.';


--
-- Name: api_keys_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

ALTER TABLE public.api_keys ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.api_keys_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);


--
-- Name: categories; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.categories (
    id bigint NOT NULL,
    name text NOT NULL,
    name_key text GENERATED ALWAYS AS (lower(regexp_replace(btrim(name), '\s+'::text, ' '::text, 'g'::text))) STORED,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT categories_name_check CHECK (((btrim(name) <> ''::text) AND (length(name) <= 100)))
);


--
-- Name: TABLE categories; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON TABLE public.categories IS 'Product categories (GET /categories). A product belongs to any number of them through product_categories.';


--
-- Name: COLUMN categories.name; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.categories.name IS 'Display name as the client sent it.';


--
-- Name: COLUMN categories.name_key; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.categories.name_key IS 'name lower-cased with runs of white space folded: the key that must be unique (index categories_name_key).';


--
-- Name: COLUMN categories.updated_at; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.categories.updated_at IS 'Last rename.';


--
-- Name: categories_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

ALTER TABLE public.categories ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.categories_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);


--
-- Name: clients; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.clients (
    id bigint NOT NULL,
    name text NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT clients_name_check CHECK ((name ~ '^[a-z0-9][a-z0-9._-]{0,99}$'::text))
);


--
-- Name: TABLE clients; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON TABLE public.clients IS 'Accounts that hold API keys. Orders belong to one; `default` (id 1) holds every order placed before API keys existed.';


--
-- Name: COLUMN clients.name; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.clients.name IS 'The name operators give it (invorder keys create --client NAME): lower case, digits, ".", "_", "-".';


--
-- Name: clients_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

ALTER TABLE public.clients ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.clients_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);


--
-- Name: jobs; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.jobs (
    id bigint NOT NULL,
    kind text NOT NULL,
    payload jsonb DEFAULT '{}'::jsonb NOT NULL,
    status text DEFAULT 'ready'::text NOT NULL,
    priority smallint DEFAULT 100 NOT NULL,
    run_after timestamp with time zone DEFAULT now() NOT NULL,
    attempts integer DEFAULT 0 NOT NULL,
    max_attempts integer DEFAULT 10 NOT NULL,
    lease_owner text,
    lease_expires_at timestamp with time zone,
    last_error text,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT jobs_attempts_check CHECK ((attempts >= 0)),
    CONSTRAINT jobs_lease_when_running CHECK (((status = 'running'::text) = ((lease_owner IS NOT NULL) AND (lease_expires_at IS NOT NULL)))),
    CONSTRAINT jobs_max_attempts_check CHECK ((max_attempts >= 1)),
    CONSTRAINT jobs_status_check CHECK ((status = ANY (ARRAY['ready'::text, 'running'::text, 'dead'::text, 'cancelled'::text])))
)
WITH (fillfactor='70', autovacuum_vacuum_scale_factor='0.01', autovacuum_vacuum_cost_limit='2000', autovacuum_analyze_scale_factor='0.02', vacuum_truncate='false');


--
-- Name: TABLE jobs; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON TABLE public.jobs IS 'The job queue. A row is a job waiting (ready), in hand (running) or given up (dead). Finished jobs are deleted at once, so the table only holds work not done.';


--
-- Name: COLUMN jobs.kind; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.jobs.kind IS 'Which handler runs it, e.g. process_order.';


--
-- Name: COLUMN jobs.payload; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.jobs.payload IS 'The handler''s arguments, e.g. {"order_id": 42}.';


--
-- Name: COLUMN jobs.status; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.jobs.status IS 'ready: waiting for run_after; running: leased by lease_owner until lease_expires_at; dead: attempts exhausted, waits for an operator to retry or cancel; cancelled: an operator gave it up (kept until purged). Finished jobs are deleted at once.';


--
-- Name: COLUMN jobs.priority; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.jobs.priority IS 'Lower runs first.';


--
-- Name: COLUMN jobs.run_after; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.jobs.run_after IS 'Not claimed before this time; retries push it out by an exponential backoff with jitter.';


--
-- Name: COLUMN jobs.attempts; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.jobs.attempts IS 'Times the job was claimed and did not finish (a snooze, such as waiting for stock, does not count).';


--
-- Name: COLUMN jobs.max_attempts; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.jobs.max_attempts IS 'After this many failed attempts the job goes to dead.';


--
-- Name: COLUMN jobs.lease_owner; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.jobs.lease_owner IS 'The worker (host:pid:uuid) holding the job while running.';


--
-- Name: COLUMN jobs.lease_expires_at; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.jobs.lease_expires_at IS 'The holder renews it while it runs; past it, the job is rescued and run again.';


--
-- Name: COLUMN jobs.last_error; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.jobs.last_error IS 'The error of the latest failed attempt.';


--
-- Name: dead_jobs; Type: VIEW; Schema: public; Owner: -
--

CREATE VIEW public.dead_jobs AS
 SELECT id,
    kind,
    payload,
    attempts,
    max_attempts,
    last_error,
    created_at,
    updated_at AS died_at
   FROM public.jobs
  WHERE (status = 'dead'::text);


--
-- Name: VIEW dead_jobs; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON VIEW public.dead_jobs IS 'Jobs that used every attempt, with the error of the last one. `invorder jobs retry ID` (or POST /api/v1/ops/jobs/retry) runs one again; `invorder jobs cancel ID` gives it up.';


--
-- Name: event_commit_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.event_commit_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: event_commits; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.event_commits (
    xid xid8 NOT NULL,
    seq bigint,
    created_at timestamp with time zone DEFAULT now() NOT NULL
);


--
-- Name: TABLE event_commits; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON TABLE public.event_commits IS 'One row per transaction that wrote events: seq is its place in commit order (set as it commits, one committer at a time), the feed''s cursor.';


--
-- Name: events; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.events (
    id bigint NOT NULL,
    xid xid8 DEFAULT pg_current_xact_id() NOT NULL,
    type text NOT NULL,
    client_id bigint,
    subject_id bigint NOT NULL,
    data jsonb NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT events_type_check CHECK ((type ~ '^[a-z_]+\.[a-z_]+$'::text))
)
WITH (autovacuum_vacuum_scale_factor='0.02', autovacuum_analyze_scale_factor='0.02');


--
-- Name: TABLE events; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON TABLE public.events IS 'The outbox: one row per change that has an event type, written by triggers in the transaction of the change. Read by GET /api/v1/events in (xid, id) order; deleted after INVORDER_EVENT_RETENTION_S.';


--
-- Name: COLUMN events.xid; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.events.xid IS 'The writing transaction (pg_current_xact_id): joins event_commits, whose seq orders the feed.';


--
-- Name: COLUMN events.client_id; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.events.client_id IS 'The client whose order this is; null for catalog and inventory events, which every client sees.';


--
-- Name: COLUMN events.subject_id; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.events.subject_id IS 'The id of the order or product the event is about.';


--
-- Name: COLUMN events.data; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.events.data IS 'A snapshot of the resource as the API shows it, taken at the change.';


--
-- Name: events_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

ALTER TABLE public.events ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.events_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);


--
-- Name: fulfillment_items; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.fulfillment_items (
    fulfillment_id bigint NOT NULL,
    product_id bigint NOT NULL,
    quantity integer NOT NULL,
    CONSTRAINT fulfillment_items_quantity_check CHECK ((quantity >= 1))
);


--
-- Name: TABLE fulfillment_items; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON TABLE public.fulfillment_items IS 'Units of each product a fulfillment shipped.';


--
-- Name: fulfillments_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

ALTER TABLE public.fulfillments ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.fulfillments_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);


--
-- Name: inventory; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.inventory (
    product_id bigint NOT NULL,
    on_hand bigint NOT NULL,
    reserved bigint DEFAULT 0 NOT NULL,
    version integer DEFAULT 1 NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    reorder_point bigint,
    location_id bigint DEFAULT 1 NOT NULL,
    CONSTRAINT inventory_on_hand_check CHECK ((on_hand >= 0)),
    CONSTRAINT inventory_reorder_point_check CHECK ((reorder_point >= 0)),
    CONSTRAINT inventory_reserved_check CHECK ((reserved >= 0)),
    CONSTRAINT inventory_reserved_le_on_hand CHECK ((reserved <= on_hand))
);


--
-- Name: TABLE inventory; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON TABLE public.inventory IS 'One stock row per product. available = on_hand - reserved; 0 <= reserved <= on_hand is enforced here.';


--
-- Name: COLUMN inventory.on_hand; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.inventory.on_hand IS 'Units physically in stock. Every change writes a stock_movements row; on_hand = sum(delta) of its movements.';


--
-- Name: COLUMN inventory.reserved; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.inventory.reserved IS 'Units held for orders in status reserved (payment in flight); equals the sum of their quantities.';


--
-- Name: COLUMN inventory.version; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.inventory.version IS 'Optimistic-concurrency version, bumped on every change of on_hand or reserved; the ETag of GET /inventory/{product_id}.';


--
-- Name: COLUMN inventory.reorder_point; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.inventory.reorder_point IS 'Set by PATCH /inventory/{product_id}: available at or below it is low stock (inventory.low_stock once per crossing); null: no alert but out_of_stock.';


--
-- Name: COLUMN inventory.location_id; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.inventory.location_id IS 'Where this stock level is (locations.id; 1 is default, where every level made before locations is).';


--
-- Name: job_admin_actions; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.job_admin_actions (
    id bigint NOT NULL,
    acted_at timestamp with time zone DEFAULT now() NOT NULL,
    actor text NOT NULL,
    action text NOT NULL,
    job_ids bigint[] DEFAULT '{}'::bigint[] NOT NULL,
    affected integer NOT NULL,
    details jsonb DEFAULT '{}'::jsonb NOT NULL,
    CONSTRAINT job_admin_actions_action_check CHECK ((action = ANY (ARRAY['retry'::text, 'cancel'::text, 'purge'::text, 'pause'::text, 'resume'::text, 'limit'::text, 'unlimit'::text]))),
    CONSTRAINT job_admin_actions_affected_check CHECK ((affected >= 0))
);


--
-- Name: TABLE job_admin_actions; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON TABLE public.job_admin_actions IS 'Every operator action on jobs (retry, cancel, purge): who, when, which jobs, how many changed. Append-only.';


--
-- Name: COLUMN job_admin_actions.actor; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.job_admin_actions.actor IS 'Who acted: user@host for the CLI, api:<client address> (or the X-Actor header) for the ops API.';


--
-- Name: COLUMN job_admin_actions.job_ids; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.job_admin_actions.job_ids IS 'The ids asked for (empty for a purge).';


--
-- Name: COLUMN job_admin_actions.affected; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.job_admin_actions.affected IS 'Jobs the action changed (asked-for jobs in another state are left alone).';


--
-- Name: COLUMN job_admin_actions.details; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.job_admin_actions.details IS 'The action''s arguments, e.g. {"older_than_s": 604800, "statuses": ["dead"]}.';


--
-- Name: job_admin_actions_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

ALTER TABLE public.job_admin_actions ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.job_admin_actions_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);


--
-- Name: job_kind_limits; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.job_kind_limits (
    kind text NOT NULL,
    max_running integer NOT NULL,
    set_at timestamp with time zone DEFAULT now() NOT NULL,
    set_by text NOT NULL,
    CONSTRAINT job_kind_limits_max_running_check CHECK ((max_running > 0))
);


--
-- Name: TABLE job_kind_limits; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON TABLE public.job_kind_limits IS 'Job kinds with at most max_running jobs running at once across every worker (invorder jobs limit KIND N, PUT /ops/kinds/{kind}/limit); jobs running when a limit is set or lowered finish. Delete the row to lift the limit.';


--
-- Name: COLUMN job_kind_limits.max_running; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.job_kind_limits.max_running IS 'Most jobs of the kind running at once (leased: jobs.lease_expires_at is not null), all workers together.';


--
-- Name: COLUMN job_kind_limits.set_by; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.job_kind_limits.set_by IS 'Who set the limit: user@host for the CLI, key:<id> or admin (and X-Actor) for the ops API.';


--
-- Name: job_throughput; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.job_throughput (
    minute timestamp with time zone NOT NULL,
    kind text NOT NULL,
    done bigint DEFAULT 0 NOT NULL,
    failed bigint DEFAULT 0 NOT NULL,
    dead bigint DEFAULT 0 NOT NULL
);


--
-- Name: TABLE job_throughput; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON TABLE public.job_throughput IS 'Jobs finished, failed and gone dead per kind and minute, summed over all workers (each adds what it saw since its previous heartbeat). Kept one day.';


--
-- Name: COLUMN job_throughput.minute; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.job_throughput.minute IS 'Start of the minute (date_trunc(''minute'', ...)).';


--
-- Name: COLUMN job_throughput.done; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.job_throughput.done IS 'Jobs completed (and deleted) in that minute.';


--
-- Name: COLUMN job_throughput.failed; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.job_throughput.failed IS 'Attempts that raised an error in that minute (each retried or dead).';


--
-- Name: COLUMN job_throughput.dead; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.job_throughput.dead IS 'Jobs that used their last attempt in that minute.';


--
-- Name: jobs_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

ALTER TABLE public.jobs ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.jobs_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);


--
-- Name: locations; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.locations (
    id bigint NOT NULL,
    code text NOT NULL,
    name text NOT NULL,
    priority integer DEFAULT 100 NOT NULL,
    active boolean DEFAULT true NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT locations_code_check CHECK ((code ~ '^[a-z0-9][a-z0-9._-]{0,49}$'::text)),
    CONSTRAINT locations_name_check CHECK (((length(name) >= 1) AND (length(name) <= 200)))
);


--
-- Name: TABLE locations; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON TABLE public.locations IS 'Where stock is kept (warehouses, stores): POST /api/v1/locations. default (id 1) holds every stock level made before locations; it cannot be deleted.';


--
-- Name: COLUMN locations.priority; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.locations.priority IS 'Allocation order under INVORDER_ALLOCATION_STRATEGY=priority: lower first, then id.';


--
-- Name: COLUMN locations.active; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.locations.active IS 'An inactive location is never allocated from; its stock stays, and what is reserved there ships or is released there.';


--
-- Name: locations_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

ALTER TABLE public.locations ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.locations_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);


--
-- Name: order_items; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.order_items (
    order_id bigint NOT NULL,
    product_id bigint NOT NULL,
    quantity integer NOT NULL,
    unit_price_cents bigint NOT NULL,
    fulfilled_quantity integer DEFAULT 0 NOT NULL,
    refunded_quantity integer DEFAULT 0 NOT NULL,
    cancelled_quantity integer DEFAULT 0 NOT NULL,
    returned_quantity integer DEFAULT 0 NOT NULL,
    CONSTRAINT order_items_after_payment_check CHECK (((fulfilled_quantity >= 0) AND (refunded_quantity >= 0) AND (cancelled_quantity >= 0) AND (returned_quantity >= 0) AND (refunded_quantity <= quantity) AND ((fulfilled_quantity + cancelled_quantity) <= quantity) AND (returned_quantity <= fulfilled_quantity))),
    CONSTRAINT order_items_quantity_check CHECK ((quantity >= 1)),
    CONSTRAINT order_items_unit_price_cents_check CHECK ((unit_price_cents >= 0))
);


--
-- Name: TABLE order_items; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON TABLE public.order_items IS 'The lines of an order, with the unit price fixed at placement.';


--
-- Name: COLUMN order_items.fulfilled_quantity; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.order_items.fulfilled_quantity IS 'Units shipped (sum of its fulfillment_items).';


--
-- Name: COLUMN order_items.refunded_quantity; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.order_items.refunded_quantity IS 'Units in refunds that are not failed.';


--
-- Name: COLUMN order_items.cancelled_quantity; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.order_items.cancelled_quantity IS 'Units refunded with restock cancel: they will not ship and went back on hand. Kept when their refund fails (never restocked twice).';


--
-- Name: COLUMN order_items.returned_quantity; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.order_items.returned_quantity IS 'Units refunded with restock return: shipped, came back, went back on hand. Kept when their refund fails.';


--
-- Name: order_logs; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.order_logs (
    id bigint NOT NULL,
    order_id bigint NOT NULL,
    attempt integer NOT NULL,
    status text NOT NULL,
    processed_at timestamp with time zone DEFAULT now() NOT NULL,
    error_message text,
    details jsonb DEFAULT '{}'::jsonb NOT NULL,
    actor text
);


--
-- Name: TABLE order_logs; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON TABLE public.order_logs IS 'Every processing attempt and outcome of an order, append-only.';


--
-- Name: COLUMN order_logs.attempt; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.order_logs.attempt IS 'The order''s attempt number this row belongs to.';


--
-- Name: COLUMN order_logs.status; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.order_logs.status IS 'What happened: placed, reserved, out_of_stock, paid, declined, payment_error, processed, failed, cancelled, ...';


--
-- Name: COLUMN order_logs.details; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.order_logs.details IS 'Structured facts of the attempt (missing stock per product, provider answer, worker id).';


--
-- Name: COLUMN order_logs.actor; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.order_logs.actor IS 'Who made the step: key:<id> or admin (placed, cancelled through the API), worker; null before this column existed.';


--
-- Name: order_logs_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

ALTER TABLE public.order_logs ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.order_logs_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);


--
-- Name: order_pipeline; Type: VIEW; Schema: public; Owner: -
--

CREATE VIEW public.order_pipeline AS
 SELECT status,
    count(*) AS orders,
    min(created_at) AS oldest_created_at,
    (EXTRACT(epoch FROM (now() - min(created_at))))::double precision AS oldest_age_s,
    count(*) FILTER (WHERE (created_at > (now() - '01:00:00'::interval))) AS created_last_hour,
    count(*) FILTER (WHERE (finished_at > (now() - '01:00:00'::interval))) AS finished_last_hour
   FROM public.orders
  GROUP BY status;


--
-- Name: VIEW order_pipeline; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON VIEW public.order_pipeline IS 'Orders by status: how many, the oldest, and how many were placed and finished in the last hour. Pending and reserved orders are in flight; processed, failed and cancelled are final.';


--
-- Name: orders_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

ALTER TABLE public.orders ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.orders_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);


--
-- Name: paused_job_kinds; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.paused_job_kinds (
    kind text NOT NULL,
    paused_at timestamp with time zone DEFAULT now() NOT NULL,
    paused_by text NOT NULL
);


--
-- Name: TABLE paused_job_kinds; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON TABLE public.paused_job_kinds IS 'Job kinds no worker claims (invorder jobs pause KIND, POST /ops/kinds/{kind}/pause); jobs already running finish. Delete the row to resume.';


--
-- Name: product_categories; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.product_categories (
    product_id bigint NOT NULL,
    category_id bigint NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL
);


--
-- Name: TABLE product_categories; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON TABLE public.product_categories IS 'Which product is in which category: one row per pair. Deleting a category removes its rows; the products stay.';


--
-- Name: COLUMN product_categories.product_id; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.product_categories.product_id IS 'The product (products.id). A soft-deleted product keeps its rows but is left out of every read.';


--
-- Name: COLUMN product_categories.category_id; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.product_categories.category_id IS 'The category (categories.id); its rows go when the category is deleted.';


--
-- Name: COLUMN product_categories.created_at; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.product_categories.created_at IS 'When the product was put in the category.';


--
-- Name: products_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

ALTER TABLE public.products ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.products_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);


--
-- Name: queue_depth; Type: VIEW; Schema: public; Owner: -
--

CREATE VIEW public.queue_depth AS
 SELECT kind,
    count(*) FILTER (WHERE ((status = 'ready'::text) AND (run_after <= now()))) AS ready,
    count(*) FILTER (WHERE ((status = 'ready'::text) AND (run_after > now()))) AS scheduled,
    count(*) FILTER (WHERE (status = 'running'::text)) AS running,
    count(*) FILTER (WHERE (status = 'dead'::text)) AS dead,
    count(*) FILTER (WHERE (status = 'cancelled'::text)) AS cancelled,
    (COALESCE(EXTRACT(epoch FROM (now() - min(run_after) FILTER (WHERE ((status = 'ready'::text) AND (run_after <= now()))))), (0)::numeric))::double precision AS oldest_ready_age_s
   FROM public.jobs
  GROUP BY kind;


--
-- Name: VIEW queue_depth; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON VIEW public.queue_depth IS 'How deep each queue is: per kind, jobs ready now, scheduled for later (run_after in the future), running, dead and cancelled, and the lag: how long the oldest ready job has been waiting past its run_after (0 when none waits).';


--
-- Name: queue_workers; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.queue_workers (
    worker_id text NOT NULL,
    started_at timestamp with time zone DEFAULT now() NOT NULL,
    last_seen_at timestamp with time zone DEFAULT now() NOT NULL,
    kinds text[] NOT NULL,
    concurrency integer NOT NULL,
    jobs_in_hand integer DEFAULT 0 NOT NULL,
    jobs_done bigint DEFAULT 0 NOT NULL,
    jobs_failed bigint DEFAULT 0 NOT NULL,
    stopped_at timestamp with time zone,
    CONSTRAINT queue_workers_concurrency_check CHECK ((concurrency >= 1)),
    CONSTRAINT queue_workers_jobs_in_hand_check CHECK ((jobs_in_hand >= 0))
);


--
-- Name: TABLE queue_workers; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON TABLE public.queue_workers IS 'One row per worker process, written by its heartbeat (every few seconds). A worker not seen for a minute is gone; rows older than a day are deleted by the workers.';


--
-- Name: COLUMN queue_workers.worker_id; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.queue_workers.worker_id IS 'host:pid:random, the same as jobs.lease_owner of the jobs it holds.';


--
-- Name: COLUMN queue_workers.last_seen_at; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.queue_workers.last_seen_at IS 'Its latest heartbeat.';


--
-- Name: COLUMN queue_workers.jobs_in_hand; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.queue_workers.jobs_in_hand IS 'Jobs it was running at its latest heartbeat.';


--
-- Name: COLUMN queue_workers.jobs_done; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.queue_workers.jobs_done IS 'Jobs it finished since it started.';


--
-- Name: COLUMN queue_workers.jobs_failed; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.queue_workers.jobs_failed IS 'Attempts that raised an error since it started (retried or dead).';


--
-- Name: COLUMN queue_workers.stopped_at; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.queue_workers.stopped_at IS 'When it stopped cleanly (null while running, or if it died).';


--
-- Name: refund_items; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.refund_items (
    refund_id bigint NOT NULL,
    product_id bigint NOT NULL,
    restock text NOT NULL,
    quantity integer NOT NULL,
    CONSTRAINT refund_items_quantity_check CHECK ((quantity >= 1)),
    CONSTRAINT refund_items_restock_check CHECK ((restock = ANY (ARRAY['none'::text, 'cancel'::text, 'return'::text])))
);


--
-- Name: TABLE refund_items; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON TABLE public.refund_items IS 'Units of a refund, by product and restock: none (money only), cancel (not shipped, back on hand), return (shipped, came back, back on hand).';


--
-- Name: refunds_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

ALTER TABLE public.refunds ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.refunds_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);


--
-- Name: stock_movements; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.stock_movements (
    id bigint NOT NULL,
    product_id bigint NOT NULL,
    delta bigint NOT NULL,
    on_hand_after bigint NOT NULL,
    kind text NOT NULL,
    reason text DEFAULT ''::text NOT NULL,
    order_id bigint,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    actor text,
    refund_id bigint,
    location_id bigint,
    CONSTRAINT stock_movements_kind_check CHECK ((kind = ANY (ARRAY['initial'::text, 'set'::text, 'adjustment'::text, 'sale'::text, 'import'::text, 'removed'::text, 'restock'::text]))),
    CONSTRAINT stock_movements_on_hand_after_check CHECK ((on_hand_after >= 0))
);


--
-- Name: TABLE stock_movements; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON TABLE public.stock_movements IS 'The stock ledger: one row per change of inventory.on_hand, never updated; kept when the inventory row is deleted.';


--
-- Name: COLUMN stock_movements.delta; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.stock_movements.delta IS 'Signed change of on_hand.';


--
-- Name: COLUMN stock_movements.on_hand_after; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.stock_movements.on_hand_after IS 'on_hand right after this movement.';


--
-- Name: COLUMN stock_movements.kind; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.stock_movements.kind IS 'initial (POST /inventory), set (PATCH), adjustment (POST .../adjustments), sale (an order was paid), import (warehouse feed), removed (DELETE /inventory: on_hand back to 0, history kept), restock (units of a refund back on hand: order_id and refund_id say which).';


--
-- Name: COLUMN stock_movements.order_id; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.stock_movements.order_id IS 'The order a sale belongs to.';


--
-- Name: COLUMN stock_movements.actor; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.stock_movements.actor IS 'Who made the change: key:<id>, admin, worker (sales) or system (stock imports); null before this column existed.';


--
-- Name: COLUMN stock_movements.refund_id; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.stock_movements.refund_id IS 'The refund whose units a restock movement put back on hand.';


--
-- Name: COLUMN stock_movements.location_id; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.stock_movements.location_id IS 'The stock level''s location; null: written before locations, or by a version without them, at default (id 1).';


--
-- Name: stock_movements_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

ALTER TABLE public.stock_movements ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.stock_movements_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);


--
-- Name: stuck_jobs; Type: VIEW; Schema: public; Owner: -
--

CREATE VIEW public.stuck_jobs AS
 SELECT id,
    kind,
    status,
        CASE
            WHEN ((status = 'running'::text) AND (lease_expires_at < now())) THEN 'lease expired: its worker stopped renewing it'::text
            WHEN (status = 'running'::text) THEN 'running for over 5 minutes'::text
            ELSE 'ready for over a minute and not claimed: are workers running for this kind?'::text
        END AS reason,
    lease_owner,
    attempts,
    max_attempts,
    run_after,
    lease_expires_at,
    updated_at,
    (EXTRACT(epoch FROM (now() -
        CASE
            WHEN (status = 'running'::text) THEN updated_at
            ELSE run_after
        END)))::double precision AS stuck_for_s,
    last_error
   FROM public.jobs
  WHERE (((status = 'running'::text) AND ((lease_expires_at < now()) OR (updated_at < (now() - '00:05:00'::interval)))) OR ((status = 'ready'::text) AND (run_after < (now() - '00:01:00'::interval))));


--
-- Name: VIEW stuck_jobs; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON VIEW public.stuck_jobs IS 'Jobs that are not moving: running past their lease (a dead worker: they are rescued within seconds by any live worker), running for over 5 minutes, or ready for over a minute without a worker claiming them.';


--
-- Name: webhook_deliveries; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.webhook_deliveries (
    id bigint NOT NULL,
    endpoint_id bigint NOT NULL,
    event_id bigint NOT NULL,
    attempt integer NOT NULL,
    status_code integer,
    error text,
    latency_ms integer,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT webhook_deliveries_attempt_check CHECK ((attempt >= 1))
);


--
-- Name: TABLE webhook_deliveries; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON TABLE public.webhook_deliveries IS 'Every delivery attempt: status_code null when no answer came; error says why it did not deliver.';


--
-- Name: webhook_deliveries_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

ALTER TABLE public.webhook_deliveries ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.webhook_deliveries_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);


--
-- Name: webhook_endpoints; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.webhook_endpoints (
    id bigint NOT NULL,
    client_id bigint NOT NULL,
    all_clients boolean DEFAULT false NOT NULL,
    url text NOT NULL,
    events text[] NOT NULL,
    description text,
    enabled boolean DEFAULT true NOT NULL,
    disabled_reason text,
    secret text NOT NULL,
    previous_secret text,
    previous_secret_expires_at timestamp with time zone,
    created_by text,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT webhook_endpoints_description_check CHECK (((description IS NULL) OR (length(description) <= 500))),
    CONSTRAINT webhook_endpoints_events_check CHECK ((cardinality(events) >= 1)),
    CONSTRAINT webhook_endpoints_previous_secret_check CHECK (((previous_secret IS NULL) OR (previous_secret ~ '^whsec_'::text))),
    CONSTRAINT webhook_endpoints_secret_check CHECK ((secret ~ '^whsec_'::text)),
    CONSTRAINT webhook_endpoints_url_check CHECK ((length(url) <= 2000))
);


--
-- Name: TABLE webhook_endpoints; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON TABLE public.webhook_endpoints IS 'Where events are pushed: one delivery job (kind deliver_webhook) per event and enabled subscribed endpoint, added in the event''s own transaction.';


--
-- Name: COLUMN webhook_endpoints.events; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.webhook_endpoints.events IS 'Event types subscribed to, or {*} for all.';


--
-- Name: COLUMN webhook_endpoints.disabled_reason; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.webhook_endpoints.disabled_reason IS 'Why deliveries stopped: a 410 answer, failures past the retry window, or an operator.';


--
-- Name: COLUMN webhook_endpoints.secret; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.webhook_endpoints.secret IS 'Signing secret (whsec_ + base64), shown once to the client; needed in the clear to sign.';


--
-- Name: COLUMN webhook_endpoints.previous_secret; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.webhook_endpoints.previous_secret IS 'The secret before the last rotation: deliveries are signed with it too until previous_secret_expires_at.';


--
-- Name: webhook_endpoints_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

ALTER TABLE public.webhook_endpoints ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.webhook_endpoints_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);


--
-- Name: api_keys api_keys_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.api_keys
    ADD CONSTRAINT api_keys_pkey PRIMARY KEY (id);


--
-- Name: categories categories_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.categories
    ADD CONSTRAINT categories_pkey PRIMARY KEY (id);


--
-- Name: clients clients_name_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.clients
    ADD CONSTRAINT clients_name_key UNIQUE (name);


--
-- Name: clients clients_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.clients
    ADD CONSTRAINT clients_pkey PRIMARY KEY (id);


--
-- Name: event_commits event_commits_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.event_commits
    ADD CONSTRAINT event_commits_pkey PRIMARY KEY (xid);


--
-- Name: event_commits event_commits_seq_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.event_commits
    ADD CONSTRAINT event_commits_seq_key UNIQUE (seq);


--
-- Name: events events_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.events
    ADD CONSTRAINT events_pkey PRIMARY KEY (id);


--
-- Name: fulfillment_items fulfillment_items_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.fulfillment_items
    ADD CONSTRAINT fulfillment_items_pkey PRIMARY KEY (fulfillment_id, product_id);


--
-- Name: fulfillments fulfillments_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.fulfillments
    ADD CONSTRAINT fulfillments_pkey PRIMARY KEY (id);


--
-- Name: inventory inventory_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.inventory
    ADD CONSTRAINT inventory_pkey PRIMARY KEY (product_id);


--
-- Name: job_admin_actions job_admin_actions_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.job_admin_actions
    ADD CONSTRAINT job_admin_actions_pkey PRIMARY KEY (id);


--
-- Name: job_kind_limits job_kind_limits_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.job_kind_limits
    ADD CONSTRAINT job_kind_limits_pkey PRIMARY KEY (kind);


--
-- Name: job_throughput job_throughput_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.job_throughput
    ADD CONSTRAINT job_throughput_pkey PRIMARY KEY (minute, kind);


--
-- Name: jobs jobs_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.jobs
    ADD CONSTRAINT jobs_pkey PRIMARY KEY (id);


--
-- Name: locations locations_code_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.locations
    ADD CONSTRAINT locations_code_key UNIQUE (code);


--
-- Name: locations locations_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.locations
    ADD CONSTRAINT locations_pkey PRIMARY KEY (id);


--
-- Name: order_items order_items_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.order_items
    ADD CONSTRAINT order_items_pkey PRIMARY KEY (order_id, product_id);


--
-- Name: order_logs order_logs_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.order_logs
    ADD CONSTRAINT order_logs_pkey PRIMARY KEY (id);


--
-- Name: orders orders_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.orders
    ADD CONSTRAINT orders_pkey PRIMARY KEY (id);


--
-- Name: paused_job_kinds paused_job_kinds_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.paused_job_kinds
    ADD CONSTRAINT paused_job_kinds_pkey PRIMARY KEY (kind);


--
-- Name: product_categories product_categories_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.product_categories
    ADD CONSTRAINT product_categories_pkey PRIMARY KEY (product_id, category_id);


--
-- Name: products products_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.products
    ADD CONSTRAINT products_pkey PRIMARY KEY (id);


--
-- Name: queue_workers queue_workers_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.queue_workers
    ADD CONSTRAINT queue_workers_pkey PRIMARY KEY (worker_id);


--
-- Name: refund_items refund_items_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.refund_items
    ADD CONSTRAINT refund_items_pkey PRIMARY KEY (refund_id, product_id, restock);


--
-- Name: refunds refunds_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.refunds
    ADD CONSTRAINT refunds_pkey PRIMARY KEY (id);


--
-- Name: stock_movements stock_movements_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.stock_movements
    ADD CONSTRAINT stock_movements_pkey PRIMARY KEY (id);


--
-- Name: webhook_deliveries webhook_deliveries_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.webhook_deliveries
    ADD CONSTRAINT webhook_deliveries_pkey PRIMARY KEY (id);


--
-- Name: webhook_endpoints webhook_endpoints_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.webhook_endpoints
    ADD CONSTRAINT webhook_endpoints_pkey PRIMARY KEY (id);


--
-- Name: api_keys_client_id_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX api_keys_client_id_idx ON public.api_keys USING btree (client_id);


--
-- Name: api_keys_key_hash_key; Type: INDEX; Schema: public; Owner: -
--

CREATE UNIQUE INDEX api_keys_key_hash_key ON public.api_keys USING btree (key_hash);


--
-- Name: categories_name_key; Type: INDEX; Schema: public; Owner: -
--

CREATE UNIQUE INDEX categories_name_key ON public.categories USING btree (name_key);


--
-- Name: events_created_at_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX events_created_at_idx ON public.events USING btree (created_at);


--
-- Name: events_xid_id_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX events_xid_id_idx ON public.events USING btree (xid, id);


--
-- Name: fulfillments_order_id_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX fulfillments_order_id_idx ON public.fulfillments USING btree (order_id, id);


--
-- Name: inventory_product_location_key; Type: INDEX; Schema: public; Owner: -
--

CREATE UNIQUE INDEX inventory_product_location_key ON public.inventory USING btree (product_id, location_id);


--
-- Name: jobs_claim_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX jobs_claim_idx ON public.jobs USING btree (priority, run_after, id) WHERE (status = 'ready'::text);


--
-- Name: jobs_dead_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX jobs_dead_idx ON public.jobs USING btree (kind, updated_at) WHERE (status = 'dead'::text);


--
-- Name: jobs_lease_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX jobs_lease_idx ON public.jobs USING btree (lease_expires_at) WHERE (status = 'running'::text);


--
-- Name: order_items_product_id_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX order_items_product_id_idx ON public.order_items USING btree (product_id);


--
-- Name: order_logs_order_id_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX order_logs_order_id_idx ON public.order_logs USING btree (order_id, id);


--
-- Name: orders_client_id_id_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX orders_client_id_id_idx ON public.orders USING btree (client_id, id);


--
-- Name: orders_client_idempotency_key_key; Type: INDEX; Schema: public; Owner: -
--

CREATE UNIQUE INDEX orders_client_idempotency_key_key ON public.orders USING btree (client_id, idempotency_key);


--
-- Name: orders_finished_at_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX orders_finished_at_idx ON public.orders USING btree (finished_at) WHERE (finished_at IS NOT NULL);


--
-- Name: orders_status_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX orders_status_idx ON public.orders USING btree (status, id);


--
-- Name: orders_to_ship_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX orders_to_ship_idx ON public.orders USING btree (finished_at) WHERE ((status = 'processed'::text) AND (fulfillment_status <> 'fulfilled'::text));


--
-- Name: product_categories_category_id_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX product_categories_category_id_idx ON public.product_categories USING btree (category_id, product_id);


--
-- Name: products_name_key; Type: INDEX; Schema: public; Owner: -
--

CREATE UNIQUE INDEX products_name_key ON public.products USING btree (name_key) WHERE (deleted_at IS NULL);


--
-- Name: products_sku_key; Type: INDEX; Schema: public; Owner: -
--

CREATE UNIQUE INDEX products_sku_key ON public.products USING btree (sku) WHERE (deleted_at IS NULL);


--
-- Name: queue_workers_last_seen_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX queue_workers_last_seen_idx ON public.queue_workers USING btree (last_seen_at);


--
-- Name: refunds_finished_at_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX refunds_finished_at_idx ON public.refunds USING btree (finished_at) WHERE (finished_at IS NOT NULL);


--
-- Name: refunds_key_client_idempotency_key_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE UNIQUE INDEX refunds_key_client_idempotency_key_idx ON public.refunds USING btree (key_client_id, idempotency_key);


--
-- Name: refunds_order_id_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX refunds_order_id_idx ON public.refunds USING btree (order_id, id);


--
-- Name: refunds_pending_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX refunds_pending_idx ON public.refunds USING btree (created_at) WHERE (status = 'pending'::text);


--
-- Name: stock_movements_product_id_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX stock_movements_product_id_idx ON public.stock_movements USING btree (product_id, id);


--
-- Name: webhook_deliveries_created_at_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX webhook_deliveries_created_at_idx ON public.webhook_deliveries USING btree (created_at);


--
-- Name: webhook_deliveries_endpoint_id_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX webhook_deliveries_endpoint_id_idx ON public.webhook_deliveries USING btree (endpoint_id, id);


--
-- Name: webhook_deliveries_event_id_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX webhook_deliveries_event_id_idx ON public.webhook_deliveries USING btree (event_id, endpoint_id);


--
-- Name: webhook_endpoints_client_id_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX webhook_endpoints_client_id_idx ON public.webhook_endpoints USING btree (client_id, id);


--
-- Name: event_commits event_commits_stamp; Type: TRIGGER; Schema: public; Owner: -
--

CREATE CONSTRAINT TRIGGER event_commits_stamp AFTER INSERT ON public.event_commits DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION public.stamp_event_commit();


--
-- Name: events events_fan_out; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER events_fan_out AFTER INSERT ON public.events REFERENCING NEW TABLE AS new_events FOR EACH STATEMENT EXECUTE FUNCTION public.fan_out_events();


--
-- Name: fulfillments fulfillments_created_events; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER fulfillments_created_events AFTER INSERT ON public.fulfillments REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION public.emit_fulfillment_created_events();


--
-- Name: inventory inventory_events; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER inventory_events AFTER UPDATE ON public.inventory REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION public.emit_inventory_events();


--
-- Name: orders orders_final_events; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER orders_final_events AFTER UPDATE ON public.orders REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION public.emit_order_final_events();


--
-- Name: orders orders_placed_events; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER orders_placed_events AFTER INSERT ON public.orders REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION public.emit_order_placed_events();


--
-- Name: products products_changed_events; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER products_changed_events AFTER UPDATE ON public.products REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION public.emit_product_changed_events();


--
-- Name: products products_created_events; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER products_created_events AFTER INSERT ON public.products REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION public.emit_product_created_events();


--
-- Name: refunds refunds_created_events; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER refunds_created_events AFTER INSERT ON public.refunds REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION public.emit_refund_created_events();


--
-- Name: refunds refunds_finished_events; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER refunds_finished_events AFTER UPDATE ON public.refunds REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION public.emit_refund_finished_events();


--
-- Name: api_keys api_keys_client_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.api_keys
    ADD CONSTRAINT api_keys_client_id_fkey FOREIGN KEY (client_id) REFERENCES public.clients(id);


--
-- Name: fulfillment_items fulfillment_items_fulfillment_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.fulfillment_items
    ADD CONSTRAINT fulfillment_items_fulfillment_id_fkey FOREIGN KEY (fulfillment_id) REFERENCES public.fulfillments(id);


--
-- Name: fulfillments fulfillments_order_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.fulfillments
    ADD CONSTRAINT fulfillments_order_id_fkey FOREIGN KEY (order_id) REFERENCES public.orders(id);


--
-- Name: inventory inventory_location_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.inventory
    ADD CONSTRAINT inventory_location_id_fkey FOREIGN KEY (location_id) REFERENCES public.locations(id);


--
-- Name: inventory inventory_product_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.inventory
    ADD CONSTRAINT inventory_product_id_fkey FOREIGN KEY (product_id) REFERENCES public.products(id);


--
-- Name: order_items order_items_order_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.order_items
    ADD CONSTRAINT order_items_order_id_fkey FOREIGN KEY (order_id) REFERENCES public.orders(id);


--
-- Name: order_items order_items_product_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.order_items
    ADD CONSTRAINT order_items_product_id_fkey FOREIGN KEY (product_id) REFERENCES public.products(id);


--
-- Name: order_logs order_logs_order_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.order_logs
    ADD CONSTRAINT order_logs_order_id_fkey FOREIGN KEY (order_id) REFERENCES public.orders(id);


--
-- Name: orders orders_client_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.orders
    ADD CONSTRAINT orders_client_id_fkey FOREIGN KEY (client_id) REFERENCES public.clients(id);


--
-- Name: product_categories product_categories_category_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.product_categories
    ADD CONSTRAINT product_categories_category_id_fkey FOREIGN KEY (category_id) REFERENCES public.categories(id) ON DELETE CASCADE;


--
-- Name: product_categories product_categories_product_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.product_categories
    ADD CONSTRAINT product_categories_product_id_fkey FOREIGN KEY (product_id) REFERENCES public.products(id) ON DELETE CASCADE;


--
-- Name: refund_items refund_items_refund_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.refund_items
    ADD CONSTRAINT refund_items_refund_id_fkey FOREIGN KEY (refund_id) REFERENCES public.refunds(id);


--
-- Name: refunds refunds_order_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.refunds
    ADD CONSTRAINT refunds_order_id_fkey FOREIGN KEY (order_id) REFERENCES public.orders(id);


--
-- Name: stock_movements stock_movements_product_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.stock_movements
    ADD CONSTRAINT stock_movements_product_id_fkey FOREIGN KEY (product_id) REFERENCES public.products(id);


--
-- Name: webhook_deliveries webhook_deliveries_endpoint_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.webhook_deliveries
    ADD CONSTRAINT webhook_deliveries_endpoint_id_fkey FOREIGN KEY (endpoint_id) REFERENCES public.webhook_endpoints(id) ON DELETE CASCADE;


--
-- Name: webhook_endpoints webhook_endpoints_client_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.webhook_endpoints
    ADD CONSTRAINT webhook_endpoints_client_id_fkey FOREIGN KEY (client_id) REFERENCES public.clients(id);
