-- Grain: one row per landed version of a store B contact (staging.record).
-- The name arrives as {last, first, middle} or, in older records, as one string.
create or replace view staging.stg_store_b__contacts as
with landed as (
  select * from staging.record where source = 'store_b' and entity = 'contact'
),

named as (
  select landed.*, fio.last_name as fio_last, fio.first_name as fio_first, fio.middle_name as fio_middle
  from landed
  cross join lateral etl.split_fio(case when jsonb_typeof(payload -> 'name') = 'string' then payload ->> 'name' end) as fio
),

final as (
  select
    staging_id,
    batch_id,
    source,
    source_key,
    source_updated_at,
    is_deleted,
    jsonb_typeof(payload) is distinct from 'object' as is_unparseable,
    'store_b'::text as company_source,
    payload ->> 'company_id' as company_key,
    coalesce(fio_last, payload #>> '{name,last}') as last_name,
    coalesce(fio_first, payload #>> '{name,first}') as first_name,
    coalesce(fio_middle, payload #>> '{name,middle}') as middle_name,
    payload ->> 'position' as position,
    etl.json_text_array(payload -> 'phones') as phones,
    etl.json_text_array(payload -> 'email') || etl.json_text_array(payload -> 'emails') as emails
  from named
)

select * from final;
