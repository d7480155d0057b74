-- migrate:up
-- Expand step of the categories feature: two new tables and one foreign key pointing at
-- products. Applied while traffic runs; docs/migrations.md lists the lock each statement takes.
-- Every statement but the last touches only tables this transaction creates, which no other
-- session can see yet. The last one takes SHARE ROW EXCLUSIVE on products (reads go on, writes
-- to products wait) until the commit right after it; lock_timeout bounds how long it may queue
-- for that lock, and `invorder migrate up` retries the whole file when it gives up.
set local lock_timeout = '1s';
set local statement_timeout = '10s';

create table categories (
    id bigint generated always as identity primary key,
    name text not null check (btrim(name) <> '' and length(name) <= 100),
    name_key text generated always as (
        lower(regexp_replace(btrim(name), '\s+', ' ', 'g'))
    ) stored,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);

create unique index categories_name_key on categories (name_key);

create table product_categories (
    product_id bigint not null,
    category_id bigint not null,
    created_at timestamptz not null default now(),
    constraint product_categories_pkey primary key (product_id, category_id),
    constraint product_categories_category_id_fkey foreign key (category_id)
    references categories (id) on delete cascade
);

-- The reverse lookup (a category's products, in product id order for keyset pages). Built
-- here, on a table created by this transaction: an empty table nobody else can see, so there
-- is nothing to build concurrently.
create index product_categories_category_id_idx on product_categories (category_id, product_id);

comment on table categories is 'Product categories (GET /categories). A product belongs to any number of them through product_categories.';
comment on column categories.name is 'Display name as the client sent it.';
comment on column categories.name_key is 'name lower-cased with runs of white space folded: the key that must be unique (index categories_name_key).';
comment on column categories.updated_at is 'Last rename.';
comment on table product_categories is 'Which product is in which category: one row per pair. Deleting a category removes its rows; the products stay.';
comment on column product_categories.product_id is 'The product (products.id). A soft-deleted product keeps its rows but is left out of every read.';
comment on column product_categories.category_id is 'The category (categories.id); its rows go when the category is deleted.';
comment on column product_categories.created_at is 'When the product was put in the category.';

-- NOT VALID: the constraint holds for every new row at once, and skips the scan of existing
-- rows (there are none) that would otherwise run under the lock on products; the next
-- migration validates it under a weaker lock.
alter table product_categories
add constraint product_categories_product_id_fkey foreign key (product_id)
references products (id) on delete cascade not valid;

-- migrate:down
-- Drops what the up created. Dropping product_categories removes its foreign key's triggers
-- on products, which takes ACCESS EXCLUSIVE on products (reads wait too) until the commit:
-- lock_timeout keeps that wait short, and the statements after it are instant.
set local lock_timeout = '1s';
set local statement_timeout = '10s';

-- squawk-ignore ban-drop-table
drop table product_categories;
-- squawk-ignore ban-drop-table
drop table categories;
