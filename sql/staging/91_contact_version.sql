-- Grain: one row per landed contact version from every source, in the common shape.
create or replace view staging.contact_version as
select * from staging.stg_store_a__contacts
union all
select * from staging.stg_store_b__contacts
union all
select * from staging.stg_store_b_events__contacts;
