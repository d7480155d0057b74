-- name: insert_product :one
-- Creates a product; products_name_key / products_sku_key refuse a live duplicate.
insert into products (name, sku, description, price_cents)
values (%(name)s, %(sku)s, %(description)s, %(price_cents)s)
returning id, name, sku, description, price_cents, version, created_at, updated_at;

-- name: get_product :one
-- A live (not deleted) product.
select
    id,
    name,
    sku,
    description,
    price_cents,
    version,
    created_at,
    updated_at
from products
where id = %(id)s and deleted_at is null;

-- name: list_products :many
-- Live products after the cursor, optionally matching q in name or sku.
select
    id,
    name,
    sku,
    description,
    price_cents,
    version,
    created_at,
    updated_at
from products
where
    deleted_at is null
    and id > %(after_id)s
    and (
        %(pattern)s::text is null
        or name ilike %(pattern)s
        or sku ilike %(pattern)s
    )
order by id
limit %(limit)s;

-- name: update_product :one
-- Changes the given fields of a live product, only if its version still matches
-- (when expected_version is given). No row back: missing or stale.
update products
set
    name = coalesce(%(name)s, name),
    sku = case when %(set_sku)s then %(sku)s else sku end,
    description = case when %(set_description)s then %(description)s else description end,
    price_cents = coalesce(%(price_cents)s, price_cents),
    version = version + 1,
    updated_at = now()
where
    id = %(id)s
    and deleted_at is null
    and (%(expected_version)s::integer is null or version = %(expected_version)s)
returning id, name, sku, description, price_cents, version, created_at, updated_at;

-- name: delete_product :one
-- Soft-deletes a live product; its row stays for the orders that name it.
update products
set deleted_at = now(), version = version + 1, updated_at = now()
where id = %(id)s and deleted_at is null
returning id, name, sku, description, price_cents, version, created_at, updated_at;

-- name: list_products_in_category :many
-- Live products of one category after the cursor, optionally matching q in name or sku
-- (walks product_categories_category_id_idx in product id order).
select
    p.id,
    p.name,
    p.sku,
    p.description,
    p.price_cents,
    p.version,
    p.created_at,
    p.updated_at
from product_categories as pc
inner join products as p on pc.product_id = p.id
where
    pc.category_id = %(category_id)s
    and pc.product_id > %(after_id)s
    and p.deleted_at is null
    and (
        %(pattern)s::text is null
        or p.name ilike %(pattern)s
        or p.sku ilike %(pattern)s
    )
order by pc.product_id
limit %(limit)s;
