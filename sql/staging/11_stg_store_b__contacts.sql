-- Grain: one row per landed version of a store B contact (staging.record).
-- The name arrives as {last, first, middle} or, in older records, as one string.
-- One select, not CTEs, so the transform's joins reach the table's index (see the companies view).
create or replace view staging.stg_store_b__contacts as
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
  case when jsonb_typeof(payload -> 'name') = 'string' then etl.fio_part(payload ->> 'name', 1) else payload #>> '{name,last}' end as last_name,
  case when jsonb_typeof(payload -> 'name') = 'string' then etl.fio_part(payload ->> 'name', 2) else payload #>> '{name,first}' end as first_name,
  case when jsonb_typeof(payload -> 'name') = 'string' then etl.fio_part(payload ->> 'name', 3) else payload #>> '{name,middle}' end as middle_name,
  payload ->> 'position' as position,
  etl.as_json_array(payload -> 'phones') as phones,
  etl.as_json_array(payload -> 'email') || etl.as_json_array(payload -> 'emails') as emails
from staging.record
where source = 'store_b' and entity = 'contact'
  and not coalesce(payload ? 'event', false);  -- Kafka events have their own view
