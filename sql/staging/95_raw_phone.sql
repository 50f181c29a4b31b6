-- Grain: one row per (batch, raw phone text) — what the phone dictionary step must know.
create or replace view staging.raw_phone as
select distinct batch_id, etl.clean_text(phone) as raw
from (
  select batch_id, jsonb_array_elements_text(phones) as phone from staging.company_version
  union all
  select batch_id, jsonb_array_elements_text(phones) as phone from staging.contact_version
) as phones
where etl.clean_text(phone) is not null;
