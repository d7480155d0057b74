-- migrate:up
-- Stock in several locations, expand step 2: each stock level names its location. A constant
-- default (a catalog change: no rewrite, no scan) puts every existing level, and every level
-- the previous version makes, at `default`; the primary key stays on product_id until the
-- contract step, so that version keeps its one row per product. The foreign key is NOT VALID
-- (checked for new rows at once; 20261208200400 validates the old ones). Adding it takes SHARE
-- ROW EXCLUSIVE on inventory for an instant, bounded by lock_timeout.
set local lock_timeout = '1s';
set local statement_timeout = '10s';

alter table inventory add column location_id bigint not null default 1;
alter table inventory add constraint inventory_location_id_fkey
foreign key (location_id) references locations (id) not valid;

comment on column inventory.location_id is 'Where this stock level is (locations.id; 1 is default, where every level made before locations is).';

-- Stock events are per level: their data names the location (create or replace: no lock).
create or replace function emit_inventory_events() returns trigger
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

-- migrate:down
set local lock_timeout = '1s';
set local statement_timeout = '10s';

-- The down migration puts the stock events back as they were, then drops what its up added.
create or replace function emit_inventory_events() returns trigger
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

-- squawk-ignore ban-drop-column
alter table inventory drop column location_id;
