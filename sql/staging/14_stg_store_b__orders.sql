-- Grain: one row per landed version of a store B order from its orders file: each order
-- with its items inside ({sku, name, qty, price}); totals as numbers or as text.
create or replace view staging.stg_store_b__orders as
select
  staging_id,
  batch_id,
  source,
  source_key,
  source_updated_at,
  is_deleted,
  landing_issues,
  jsonb_typeof(payload) is distinct from 'object' as is_unparseable,
  'store_b'::text as company_source,
  payload ->> 'company_id' as company_key,
  payload ->> 'contact_id' as contact_key,
  payload ->> 'number' as number,
  payload ->> 'status' as status,
  payload ->> 'total' as total,
  payload ->> 'currency' as currency,
  payload ->> 'created' as created_text,
  etl.parse_order_time(payload ->> 'created') as source_created_at,
  jsonb_typeof(payload -> 'items') as items_shape,
  etl.as_json_array(payload -> 'items') as items,
  'qty'::text as item_quantity_key
from staging.record
where source = 'store_b' and entity = 'order'
  and not coalesce(payload ? 'event', false);  -- Kafka events have their own view
