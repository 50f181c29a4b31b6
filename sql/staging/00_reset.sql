-- The staging views are re-created from these files on every migrate. Dropping them first
-- lets a view change its columns; a view of your own built on them makes this fail with a
-- clear error instead of being dropped silently (no cascade).
drop view if exists staging.current_version, staging.mapped_source, staging.raw_phone, staging.order_version, staging.contact_version, staging.company_version,
  staging.stg_store_a__orders, staging.stg_store_b__orders, staging.stg_store_b_events__orders,
  staging.stg_store_a__contacts, staging.stg_store_a__companies,
  staging.stg_store_b_events__contacts, staging.stg_store_b_events__companies,
  staging.stg_store_b__contacts, staging.stg_store_b__companies;
-- the order views' lines are read once by the clean step now, in the store's own shape
drop function if exists etl.order_lines(jsonb, text);
