-- name: create_stock_import_table :exec
-- The staging table of one import: private to the session, dropped when the import commits.
-- on_hand is null for a line refused for its form that still names a sku (it counts towards
-- duplicates, and is never applied).
create temporary table stock_import_lines (
    line integer primary key,
    sku text not null,
    on_hand bigint check (on_hand >= 0)
) on commit drop;

-- name: copy_stock_import_lines :exec
-- Streams the lines of the file that name a sku into the staging table.
copy stock_import_lines (line, sku, on_hand) from stdin;

-- name: apply_stock_import :many
-- Applies the staged lines in one statement and says what became of each well-formed one. A
-- line is applied when its sku names exactly one line of the file (malformed ones included) and
-- a live product with a stock row, and its on_hand is not below what is reserved; the others are
-- rejected with the reason as `outcome`.
-- The stock rows are locked first, in product id order (the global lock order); the update only
-- touches rows of that locked set, named by an init plan so that every lock is taken before any
-- row is written. Every decision reads `locked`: the rows as they are once locked (a change
-- committed while we waited for a lock is in them), not as the statement's snapshot, taken
-- before any wait, saw them; nothing changes them until we commit. `reserved = k.reserved`
-- writes back the value it already has, on purpose: Postgres checks constraints on the new row
-- built from the snapshot's version before it follows the update chain to the current one,
-- and a stale reserved could fail reserved <= on_hand there although the row written is fine.
-- Changed rows bump their version and write one `import` ledger row each.
with lines as (
    select
        s.line,
        s.sku,
        s.on_hand,
        count(*) over (partition by s.sku) as copies,
        array_agg(s.line) over (partition by s.sku) as sku_lines
    from stock_import_lines as s
),

matched as (
    select
        l.line,
        l.sku,
        l.on_hand,
        l.copies,
        l.sku_lines,
        p.id as product_id,
        l.sku in (
            select d.sku
            from products as d
            where d.deleted_at is not null
        ) as sku_deleted
    from lines as l
    left join products as p on l.sku = p.sku and p.deleted_at is null
    where l.on_hand is not null
),

locked as materialized (
    select
        i.product_id,
        i.on_hand,
        i.reserved
    from inventory as i
    where
        i.product_id in (
            select m.product_id
            from matched as m
            where m.copies = 1
        )
    order by i.product_id
    for update
),

changed as (
    update inventory as i
    set
        on_hand = m.on_hand,
        reserved = k.reserved,
        version = i.version + 1,
        updated_at = now()
    from matched as m
    inner join locked as k on m.product_id = k.product_id
    where
        i.product_id = m.product_id
        and i.product_id = any(array(select lk.product_id from locked as lk))
        and m.copies = 1
        and m.on_hand <> k.on_hand
        and m.on_hand >= k.reserved
    returning i.product_id, i.location_id, i.on_hand
),

movements as (
    insert into stock_movements (product_id, location_id, delta, on_hand_after, kind, reason, actor)
    select
        c.product_id,
        c.location_id,
        c.on_hand - k.on_hand as delta,
        c.on_hand as on_hand_after,
        'import' as kind,
        %(reason)s as reason,
        %(actor)s as actor
    from changed as c
    inner join locked as k on c.product_id = k.product_id
)

select
    m.line,
    m.sku,
    m.product_id,
    m.on_hand,
    k.on_hand as on_hand_before,
    k.reserved,
    m.sku_lines,
    case
        when m.copies > 1 then 'duplicate_sku'
        when m.product_id is null and m.sku_deleted then 'deleted_sku'
        when m.product_id is null then 'unknown_sku'
        when k.product_id is null then 'no_inventory'
        when c.product_id is not null then 'applied'
        when m.on_hand = k.on_hand then 'unchanged'
        else 'below_reserved'
    end as outcome
from matched as m
left join locked as k on m.product_id = k.product_id
left join changed as c on m.product_id = c.product_id
order by m.line;
