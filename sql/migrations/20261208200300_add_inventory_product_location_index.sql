-- migrate:up transaction:false
-- Stock in several locations, expand step 4: the key stock levels will have, (product_id,
-- location_id), built concurrently (SHARE UPDATE EXCLUSIVE: reads, writes and claims go on)
-- beside the primary key on product_id, which the contract step swaps onto it once no process
-- of a version before locations is left. Alone in a file without a transaction, for the reasons
-- given in 20261201100200_add_orders_finished_at_index.sql; a failed build leaves an INVALID
-- index that `invorder migrate up` drops before it runs this file again.
-- squawk-ignore ban-concurrent-index-creation-in-transaction, require-lock-timeout, require-statement-timeout
create unique index concurrently if not exists inventory_product_location_key on inventory (product_id, location_id);

-- migrate:down transaction:false
drop index concurrently if exists inventory_product_location_key;
