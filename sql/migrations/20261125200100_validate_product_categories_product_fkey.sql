-- migrate:up
-- Contract-safe second step of 20261125200000_add_product_categories: check the rows written
-- since the foreign key was added NOT VALID. VALIDATE takes SHARE UPDATE EXCLUSIVE on
-- product_categories and ROW SHARE on products, which block neither reads nor writes.
set local lock_timeout = '1s';
set local statement_timeout = '10s';

alter table product_categories validate constraint product_categories_product_id_fkey;

-- migrate:down
-- Nothing to undo: a validated constraint stays valid, and the previous migration's down
-- drops it with its table.
