-- Grain: one row per landed order version from every source, in the common shape.
create or replace view staging.order_version as
select * from staging.stg_store_a__orders
union all
select * from staging.stg_store_b__orders
union all
select * from staging.stg_store_b_events__orders;
