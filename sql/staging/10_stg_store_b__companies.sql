-- Grain: one row per landed version of a store B company (staging.record).
-- Renames and casts the store B JSON shape into the common company shape; no rules here.
-- Written as one select, not in CTE style: a view with a WITH clause is not flattened
-- into the transform's joins, and every version would be mapped to find a few.
create or replace view staging.stg_store_b__companies as
select
  staging_id,
  batch_id,
  source,
  source_key,
  source_updated_at,
  is_deleted,
  landing_issues,
  jsonb_typeof(payload) is distinct from 'object' as is_unparseable,
  payload ->> 'inn' as inn,
  payload ->> 'kpp' as kpp,
  payload ->> 'ogrn' as ogrn,
  payload ->> 'title' as name,
  payload ->> 'address' as legal_address,
  etl.as_json_array(payload -> 'phones') as phones,
  etl.as_json_array(payload -> 'emails') as emails,
  payload #>> '{bank,bik}' as bank_bik,
  payload #>> '{bank,account}' as bank_account,
  payload #>> '{bank,corr_account}' as bank_corr_account,
  payload #>> '{bank,name}' as bank_name,
  etl.try_timestamptz(payload ->> 'created') as source_created_at
from staging.record
where source = 'store_b' and entity = 'company'
  and not coalesce(payload ? 'event', false);  -- Kafka events have their own view
