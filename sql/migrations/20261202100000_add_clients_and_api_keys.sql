-- migrate:up
-- Expand step of API keys and scopes (docs/security.md): clients, their keys, and the client
-- each order belongs to. Applied while traffic runs. The two new tables are this transaction's
-- own. `orders.client_id` is added with a constant default, which PostgreSQL 11 and later store
-- in the catalog without rewriting the table: every existing order belongs to the `default`
-- client (id 1), and so does every order an API of the previous version places during the
-- deploy. That takes ACCESS EXCLUSIVE on orders for an instant; the foreign key after it takes
-- SHARE ROW EXCLUSIVE (reads go on) until the commit, NOT VALID so nothing is scanned under
-- it; the next migration validates it under a weaker lock. lock_timeout bounds each wait and
-- `invorder migrate up` retries the file when it gives up.
set local lock_timeout = '1s';
set local statement_timeout = '10s';

create table clients (
    id bigint generated always as identity primary key,
    name text not null unique check (name ~ '^[a-z0-9][a-z0-9._-]{0,99}$'),
    created_at timestamptz not null default now()
);

insert into clients (id, name) overriding system value values (1, 'default');
select setval(pg_get_serial_sequence('clients', 'id'), 1);

create table api_keys (
    id bigint generated always as identity primary key,
    client_id bigint not null references clients (id),
    prefix text not null check (prefix ~ '^ik_[A-Za-z0-9_-]{8}$'),
    key_hash bytea not null check (length(key_hash) = 32),
    scopes text[] not null check (
        cardinality(scopes) >= 1
        and scopes <@ array[
            'catalog:read', 'catalog:write', 'inventory:read', 'inventory:write',
            'orders:read', 'orders:write', 'events:read', 'webhooks:write', 'ops', 'metrics'
        ]::text[]
    ),
    created_at timestamptz not null default now(),
    created_by text not null,
    expires_at timestamptz,
    revoked_at timestamptz,
    last_used_at timestamptz
);

-- squawk-ignore require-concurrent-index-creation
create unique index api_keys_key_hash_key on api_keys (key_hash);
-- squawk-ignore require-concurrent-index-creation
create index api_keys_client_id_idx on api_keys (client_id);

comment on table clients is 'Accounts that hold API keys. Orders belong to one; `default` (id 1) holds every order placed before API keys existed.';
comment on column clients.name is 'The name operators give it (invorder keys create --client NAME): lower case, digits, ".", "_", "-".';
comment on table api_keys is 'API keys (Authorization: Bearer ik_...). The key itself is never stored: only its SHA-256 and a short prefix to recognise it.';
comment on column api_keys.prefix is 'The first 11 characters of the key (ik_ and 8 more), shown in lists so people can tell keys apart.';
comment on column api_keys.key_hash is 'SHA-256 of the whole key. Keys are 192 random bits, so a fast hash is enough (docs/security.md).';
comment on column api_keys.scopes is 'What the key may do (SPEC.md, Access): catalog:read, catalog:write, inventory:read, inventory:write, orders:read, orders:write, events:read, webhooks:write, ops, metrics.';
comment on column api_keys.created_by is 'Who created it: user@host for the CLI, key:<id> or admin for the ops API.';
comment on column api_keys.expires_at is 'After this the key is refused (401). Null: it does not expire.';
comment on column api_keys.revoked_at is 'When it was revoked (invorder keys revoke, DELETE /ops/keys/{id}); refused from then on, within the cache bound.';
comment on column api_keys.last_used_at is 'Last use seen by an API process, written at most once a minute per key and process.';

-- squawk-ignore adding-not-nullable-field
alter table orders add column client_id bigint not null default 1;
comment on column orders.client_id is 'The client whose key placed the order (clients.id); 1 (default) for orders from before API keys.';

alter table orders
add constraint orders_client_id_fkey foreign key (client_id) references clients (id) not valid;

-- migrate:down
set local lock_timeout = '1s';
set local statement_timeout = '10s';

-- squawk-ignore ban-drop-column
alter table orders drop column client_id;
-- squawk-ignore ban-drop-table
drop table api_keys;
-- squawk-ignore ban-drop-table
drop table clients;
