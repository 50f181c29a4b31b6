-- Grain: one row per landed version of a store A order: a row of the replica's `orders`
-- table with its `order_items` rows inside (items), as the MySQL loader lands them (an
-- item's change is a new version of its order). Amounts arrive as MySQL decimals (text).
-- Times are ISO-8601 with the replica's offset (the loader writes them so).
create or replace view staging.stg_store_a__orders as
select
  staging_id,
  batch_id,
  source,
  source_key,
  source_updated_at,
  is_deleted,
  landing_issues,
  jsonb_typeof(payload) is distinct from 'object' as is_unparseable,
  'store_a'::text as company_source,
  payload ->> 'company_id' as company_key,
  payload ->> 'contact_id' as contact_key,
  payload ->> 'number' as number,
  payload ->> 'status' as status,
  payload ->> 'total' as total,
  payload ->> 'currency' as currency,
  payload ->> 'created_at' as created_text,
  etl.parse_order_time(payload ->> 'created_at') as source_created_at,
  jsonb_typeof(payload -> 'items') as items_shape,
  etl.as_json_array(payload -> 'items') as items,
  'quantity'::text as item_quantity_key
from staging.record
where source = 'store_a' and entity = 'order';
