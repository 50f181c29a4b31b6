-- Grain: one row per landed company version from every source, in the common shape the
-- transform reads. A new source adds its stg_<source>__companies view to this union.
create or replace view staging.company_version as
select * from staging.stg_store_a__companies
union all
select * from staging.stg_store_b__companies
union all
select * from staging.stg_store_b_events__companies;
