-- Grain: one row per landed store B Kafka event about a contact (staging.record). The consumer
-- lands each message as sent: {event, occurred_at, data}; data has the store B JSON shape,
-- so this maps like the files' view, one level down. Deletions carry only data.id and
-- is_deleted. Messages that could not be read land with raw_text and fall to the files'
-- view as unparseable.
create or replace view staging.stg_store_b_events__contacts as
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
  case when jsonb_typeof(payload -> 'data' -> 'name') = 'string' then etl.fio_part(payload -> 'data' ->> 'name', 1) else payload -> 'data' #>> '{name,last}' end as last_name,
  case when jsonb_typeof(payload -> 'data' -> 'name') = 'string' then etl.fio_part(payload -> 'data' ->> 'name', 2) else payload -> 'data' #>> '{name,first}' end as first_name,
  case when jsonb_typeof(payload -> 'data' -> 'name') = 'string' then etl.fio_part(payload -> 'data' ->> 'name', 3) else payload -> 'data' #>> '{name,middle}' end as middle_name,
  payload -> 'data' ->> 'position' as position,
  etl.as_json_array(payload -> 'data' -> 'phones') as phones,
  etl.as_json_array(payload -> 'data' -> 'email') || etl.as_json_array(payload -> 'data' -> 'emails') as emails
from staging.record
where source = 'store_b' and entity = 'contact'
  and payload ? 'event';
