-- Grain: one row per raw phone text of each landed version — what the phone dictionary step
-- must know. Filter on staging_id (> staging.batch.first_staging_id) as well as batch_id to
-- read only new rows through the primary key.
create or replace view staging.raw_phone as
select staging_id, batch_id, raw
from (
  select v.staging_id, v.batch_id, etl.clean_text(p.phone) as raw
  from staging.company_version v cross join lateral jsonb_array_elements_text(v.phones) as p(phone)
  union all
  select v.staging_id, v.batch_id, etl.clean_text(p.phone) as raw
  from staging.contact_version v cross join lateral jsonb_array_elements_text(v.phones) as p(phone)
) as phones
where raw is not null;
