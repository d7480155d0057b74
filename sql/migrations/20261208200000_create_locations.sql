-- migrate:up
-- Stock in several locations (docs/migrations.md, "Locations"), expand step 1: the locations
-- themselves, with `default` (id 1) where every stock level that exists is. A new table: no
-- lock on anything the running system uses.
set local lock_timeout = '1s';
set local statement_timeout = '10s';

create table locations (
    id bigint generated always as identity primary key,
    code text not null unique check (code ~ '^[a-z0-9][a-z0-9._-]{0,49}$'),
    name text not null check (length(name) between 1 and 200),
    -- Lower is tried first when an order is allocated; ties by id.
    priority integer not null default 100,
    active boolean not null default true,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);

-- id 1, which inventory.location_id defaults to (20261208200100); the identity goes on from 2.
insert into locations (id, code, name) overriding system value values (1, 'default', 'Default');
select setval(pg_get_serial_sequence('locations', 'id'), 1);

comment on table locations is 'Where stock is kept (warehouses, stores): POST /api/v1/locations. default (id 1) holds every stock level made before locations; it cannot be deleted.';
comment on column locations.priority is 'Allocation order under INVORDER_ALLOCATION_STRATEGY=priority: lower first, then id.';
comment on column locations.active is 'An inactive location is never allocated from; its stock stays, and what is reserved there ships or is released there.';

-- migrate:down
set local lock_timeout = '1s';
set local statement_timeout = '10s';

-- The down migration drops only what its up created.
-- squawk-ignore ban-drop-table
drop table locations;
