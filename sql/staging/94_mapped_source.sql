-- Grain: one row per (source, entity) a staging view maps into the union the transform reads
-- (staging.company_version, staging.contact_version, staging.order_version). Loaders refuse any other source before
-- landing: its records would be stored and then ignored. A new source adds its
-- stg_<source>__<entity> view to the union and its row here.
create or replace view staging.mapped_source (source, entity, mapping_view) as
values
  ('store_a', 'company', 'staging.stg_store_a__companies'),
  ('store_a', 'contact', 'staging.stg_store_a__contacts'),
  ('store_b', 'company', 'staging.stg_store_b__companies, staging.stg_store_b_events__companies'),
  ('store_b', 'contact', 'staging.stg_store_b__contacts, staging.stg_store_b_events__contacts'),
  ('store_a', 'order', 'staging.stg_store_a__orders'),
  ('store_b', 'order', 'staging.stg_store_b__orders, staging.stg_store_b_events__orders');
