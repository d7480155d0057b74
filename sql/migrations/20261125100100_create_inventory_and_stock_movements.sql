-- migrate:up
set local lock_timeout = '5s';
set local statement_timeout = '30s';

create table inventory (
    product_id bigint primary key references products (id),
    on_hand bigint not null check (on_hand >= 0),
    reserved bigint not null default 0 check (reserved >= 0),
    version integer not null default 1,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    constraint inventory_reserved_le_on_hand check (reserved <= on_hand)
);

create table stock_movements (
    id bigint generated always as identity primary key,
    product_id bigint not null references products (id),
    delta bigint not null,
    on_hand_after bigint not null check (on_hand_after >= 0),
    kind text not null check (kind in ('initial', 'set', 'adjustment', 'sale', 'import', 'removed')),
    reason text not null default '',
    order_id bigint,
    created_at timestamptz not null default now()
);

create index stock_movements_product_id_idx on stock_movements (product_id, id);

comment on table inventory is 'One stock row per product. available = on_hand - reserved; 0 <= reserved <= on_hand is enforced here.';
comment on column inventory.on_hand is 'Units physically in stock. Every change writes a stock_movements row; on_hand = sum(delta) of its movements.';
comment on column inventory.reserved is 'Units held for orders in status reserved (payment in flight); equals the sum of their quantities.';
comment on column inventory.version is 'Optimistic-concurrency version, bumped on every change of on_hand or reserved; the ETag of GET /inventory/{product_id}.';
comment on table stock_movements is 'The stock ledger: one row per change of inventory.on_hand, never updated; kept when the inventory row is deleted.';
comment on column stock_movements.delta is 'Signed change of on_hand.';
comment on column stock_movements.on_hand_after is 'on_hand right after this movement.';
comment on column stock_movements.kind is 'initial (POST /inventory), set (PATCH), adjustment (POST .../adjustments), sale (an order was paid), import (warehouse feed), removed (DELETE /inventory: on_hand back to 0, history kept).';
comment on column stock_movements.order_id is 'The order a sale belongs to.';

-- migrate:down
-- The down migration drops only what its up created.
-- squawk-ignore ban-drop-table
drop table stock_movements;
-- squawk-ignore ban-drop-table
drop table inventory;
