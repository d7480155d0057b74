-- migrate:up
set local lock_timeout = '5s';
set local statement_timeout = '30s';

create table products (
    id bigint generated always as identity primary key,
    name text not null check (btrim(name) <> '' and length(name) <= 200),
    name_key text generated always as (
        lower(regexp_replace(btrim(name), '\s+', ' ', 'g'))
    ) stored,
    sku text check (sku is null or (btrim(sku) <> '' and length(sku) <= 64)),
    description text check (description is null or length(description) <= 5000),
    price_cents bigint not null check (price_cents >= 0),
    version integer not null default 1,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    deleted_at timestamptz
);

create unique index products_name_key on products (name_key) where deleted_at is null;
create unique index products_sku_key on products (sku) where deleted_at is null;

comment on table products is 'The catalog. A deleted product keeps its row (deleted_at set) so orders that name it keep their history.';
comment on column products.name is 'Display name as the client sent it.';
comment on column products.name_key is 'name lower-cased with runs of white space folded: the key that must be unique among live products (index products_name_key).';
comment on column products.sku is 'Stock keeping unit, unique among live products when present; the key of stock imports.';
comment on column products.price_cents is 'Current unit price in minor units. Orders copy it at placement (order_items.unit_price_cents).';
comment on column products.version is 'Optimistic-concurrency version, bumped on every update; the ETag of GET /products/{id}.';
comment on column products.deleted_at is 'Set by DELETE /products/{id}; the product then disappears from reads and cannot be ordered.';

-- migrate:down
-- The down migration drops only what its up created.
-- squawk-ignore ban-drop-table
drop table products;
