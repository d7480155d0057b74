-- migrate:up
-- Keys may hold the scopes fulfillments:write and refunds:write. The check is swapped NOT VALID
-- (validated by 20261208100500); the previous version never writes the new scopes.
set local lock_timeout = '1s';
set local statement_timeout = '10s';

-- squawk-ignore ban-drop-constraint
alter table api_keys drop constraint api_keys_scopes_check;
alter table api_keys add constraint api_keys_scopes_check check (
    cardinality(scopes) >= 1
    and scopes <@ array[
        'catalog:read', 'catalog:write', 'inventory:read', 'inventory:write',
        'orders:read', 'orders:write', 'events:read', 'webhooks:write', 'ops', 'metrics',
        'fulfillments:write', 'refunds:write'
    ]::text[]
) not valid;

comment on column api_keys.scopes is 'What the key may do (SPEC.md, Access): catalog:read, catalog:write, inventory:read, inventory:write, orders:read, orders:write, events:read, webhooks:write, ops, metrics, fulfillments:write, refunds:write.';

-- migrate:down
set local lock_timeout = '1s';
set local statement_timeout = '10s';

-- The down migration drops only what its up added.
-- squawk-ignore ban-drop-constraint
alter table api_keys drop constraint api_keys_scopes_check;
alter table api_keys add constraint api_keys_scopes_check check (
    cardinality(scopes) >= 1
    and scopes <@ array[
        'catalog:read', 'catalog:write', 'inventory:read', 'inventory:write',
        'orders:read', 'orders:write', 'events:read', 'webhooks:write', 'ops', 'metrics'
    ]::text[]
) not valid;
