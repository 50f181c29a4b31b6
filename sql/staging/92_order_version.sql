-- Grain: one row per landed order version from every source, in the common shape; its lines
-- (items) as the store writes them, item_quantity_key naming the store's key for a quantity.
create or replace view staging.order_version as
select * from staging.stg_store_a__orders
union all
select * from staging.stg_store_b__orders
union all
select * from staging.stg_store_b_events__orders;
