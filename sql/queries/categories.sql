-- name: insert_category :one
-- Creates a category; categories_name_key refuses a duplicate name (case- and space-insensitive).
insert into categories (name)
values (%(name)s)
returning id, name, created_at, updated_at;

-- name: get_category :one
select
    id,
    name,
    created_at,
    updated_at
from categories
where id = %(id)s;

-- name: list_categories :many
-- Categories after the cursor, in id order.
select
    id,
    name,
    created_at,
    updated_at
from categories
where id > %(after_id)s
order by id
limit %(limit)s;

-- name: rename_category :one
-- No row back: no such category.
update categories
set name = %(name)s, updated_at = now()
where id = %(id)s
returning id, name, created_at, updated_at;

-- name: delete_category :one
-- Deletes a category; its product_categories rows go with it (on delete cascade).
delete from categories
where id = %(id)s
returning id, name, created_at, updated_at;

-- name: missing_categories :many
-- The ids among the given ones that name no category.
select ids.id
from unnest(%(ids)s::bigint[]) as ids (id)
where
    not exists (
        select from categories as c
        where c.id = ids.id
    )
order by ids.id;

-- name: list_categories_of_products :many
-- The categories each of the given products is in, by name.
select
    pc.product_id,
    c.id,
    c.name
from product_categories as pc
inner join categories as c on pc.category_id = c.id
where pc.product_id = any(%(product_ids)s::bigint[])
order by pc.product_id, c.name_key, c.id;

-- name: lock_product_for_categories :one
-- A live product, locked against a concurrent change of its categories (or its deletion)
-- until the transaction ends. FOR NO KEY UPDATE lets orders and stock that reference the
-- product go on.
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
where id = %(product_id)s and deleted_at is null
for no key update;

-- name: remove_product_categories_except :execrows
-- Takes the product out of every category not in the given ids.
delete from product_categories
where product_id = %(product_id)s and category_id <> all(%(category_ids)s::bigint[]);

-- name: add_product_categories :execrows
-- Puts the product in each of the given categories it is not in yet.
insert into product_categories (product_id, category_id)
select
    %(product_id)s as product_id,
    ids.category_id
from unnest(%(category_ids)s::bigint[]) as ids (category_id)
on conflict (product_id, category_id) do nothing;

-- name: remove_product_category :execrows
delete from product_categories
where product_id = %(product_id)s and category_id = %(category_id)s;
