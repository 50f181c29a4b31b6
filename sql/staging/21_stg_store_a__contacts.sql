-- Grain: one row per landed version of a store A contact: a row of the replica's
-- `contacts` table. The name arrives as "Фамилия Имя Отчество" in one field (fio).
create or replace view staging.stg_store_a__contacts as
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
  etl.fio_part(payload ->> 'fio', 1) as last_name,
  etl.fio_part(payload ->> 'fio', 2) as first_name,
  etl.fio_part(payload ->> 'fio', 3) as middle_name,
  payload ->> 'position' as position,
  etl.as_json_array(payload -> 'phone') as phones,
  etl.as_json_array(payload -> 'email') as emails
from staging.record
where source = 'store_a' and entity = 'contact';
