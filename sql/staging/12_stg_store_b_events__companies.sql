-- Grain: one row per landed store B Kafka event about a company (staging.record). The consumer
-- lands each message as sent: {event, occurred_at, data}; data has the store B JSON shape,
-- so this maps like the files' view, one level down. Deletions carry only data.id and
-- is_deleted. Messages that could not be read land with raw_text and fall to the files'
-- view as unparseable.
create or replace view staging.stg_store_b_events__companies as
select
  staging_id,
  batch_id,
  source,
  source_key,
  source_updated_at,
  is_deleted,
  landing_issues,
  jsonb_typeof(payload -> 'data') is distinct from 'object' as is_unparseable,
  payload -> 'data' ->> 'inn' as inn,
  payload -> 'data' ->> 'kpp' as kpp,
  payload -> 'data' ->> 'ogrn' as ogrn,
  payload -> 'data' ->> 'title' as name,
  payload -> 'data' ->> 'address' as legal_address,
  etl.as_json_array(payload -> 'data' -> 'phones') as phones,
  etl.as_json_array(payload -> 'data' -> 'emails') as emails,
  payload -> 'data' #>> '{bank,bik}' as bank_bik,
  payload -> 'data' #>> '{bank,account}' as bank_account,
  payload -> 'data' #>> '{bank,corr_account}' as bank_corr_account,
  payload -> 'data' #>> '{bank,name}' as bank_name,
  etl.try_timestamptz(payload -> 'data' ->> 'created') as source_created_at
from staging.record
where source = 'store_b' and entity = 'company'
  and payload ? 'event';
