-- Grain: one row per landed version of a store A company (staging.record), a row of the
-- replica's `companies` table as the MySQL loader landed it: column names as keys, text
-- decoded from the shop's Windows-1251, datetimes as ISO-8601 with the source's offset.
-- One select, not CTEs, so the transform's joins reach the table's index.
create or replace view staging.stg_store_a__companies as
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
  payload ->> 'name' as name,
  payload ->> 'legal_address' as legal_address,
  etl.as_json_array(payload -> 'phone') as phones,
  etl.as_json_array(payload -> 'email') as emails,
  payload ->> 'bank_bik' as bank_bik,
  payload ->> 'bank_account' as bank_account,
  payload ->> 'bank_corr_account' as bank_corr_account,
  payload ->> 'bank_name' as bank_name,
  etl.try_timestamptz(payload ->> 'created_at') as source_created_at
from staging.record
where source = 'store_a' and entity = 'company';
