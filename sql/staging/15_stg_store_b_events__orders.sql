-- Grain: one row per landed store B Kafka event about an order: {event, occurred_at, data}
-- with data in the orders file's shape (order.upserted), or only data.id (order.deleted).
create or replace view staging.stg_store_b_events__orders as
select
  staging_id,
  batch_id,
  source,
  source_key,
  source_updated_at,
  is_deleted,
  landing_issues,
  jsonb_typeof(payload -> 'data') is distinct from 'object' as is_unparseable,
  'store_b'::text as company_source,
  payload -> 'data' ->> 'company_id' as company_key,
  payload -> 'data' ->> 'contact_id' as contact_key,
  payload -> 'data' ->> 'number' as number,
  payload -> 'data' ->> 'status' as status,
  payload -> 'data' ->> 'total' as total,
  payload -> 'data' ->> 'currency' as currency,
  payload -> 'data' ->> 'created' as created_text,
  etl.parse_order_time(payload -> 'data' ->> 'created') as source_created_at,
  jsonb_typeof(payload -> 'data' -> 'items') as items_shape,
  etl.as_json_array(payload -> 'data' -> 'items') as items,
  'qty'::text as item_quantity_key
from staging.record
where source = 'store_b' and entity = 'order'
  and payload ? 'event';
