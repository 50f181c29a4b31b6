-- etl.funnel: how many records reach each step from landing to the CRM, per entity — the
-- numbers `b2b-etl status` prints. Grain: one row per entity and step, in order (step).
-- etl.rejection_summary: the open rejections. Grain: one row per entity, severity and reason.
-- Dropped and created again so a later version may change their columns (no cascade: a view
-- of your own built on them makes migrate fail with a clear error instead of vanishing).
drop view if exists etl.funnel, etl.rejection_summary;

create view etl.funnel as
with company as (
  select
    (select count(*) from staging.record where entity = 'company') as versions_landed,
    (select count(*) from etl.source_company) as source_records,
    (select count(*) from etl.source_company where inn is not null and etl.inn_is_valid(inn)) as valid_inn,
    (select count(*) from etl.source_company where is_accepted) as accepted,
    (select count(*) from canonical.company where not is_deleted) as canonical,
    (select count(*) from canonical.company where not is_deleted and is_ready) as ready,
    (select count(*) from canonical.company where not is_deleted and registry_status is null) as not_checked
),

contact as (
  select
    (select count(*) from staging.record where entity = 'contact') as versions_landed,
    (select count(*) from etl.source_contact) as source_records,
    (select count(*) from etl.source_contact where is_accepted) as accepted,
    (select count(*) from canonical.contact where not is_deleted) as canonical
),

orders as (
  select
    (select count(*) from staging.record where entity = 'order') as versions_landed,
    (select count(*) from etl.source_order) as source_records,
    (select count(*) from etl.source_order where is_accepted) as accepted,
    (select count(*) from canonical.deal where not is_deleted) as canonical,
    (select count(*) from etl.crm_deal_out) as ready
),

final as (
  select 'company'::text as entity, s.step, s.stage, s.records
  from company,
    lateral (values
      (1, 'versions_landed', versions_landed),
      (2, 'source_records', source_records),
      (3, 'valid_inn', valid_inn),
      (4, 'accepted', accepted),
      (5, 'canonical', canonical),
      (6, 'ready', ready),
      (7, 'not_checked', not_checked)   -- canonical companies the registry has not answered for yet
    ) as s (step, stage, records)
  union all
  select 'contact', s.step, s.stage, s.records
  from contact,
    lateral (values
      (1, 'versions_landed', versions_landed),
      (2, 'source_records', source_records),
      (4, 'accepted', accepted),
      (5, 'canonical', canonical)
    ) as s (step, stage, records)
  union all
  select 'order', s.step, s.stage, s.records
  from orders,
    lateral (values
      (1, 'versions_landed', versions_landed),
      (2, 'source_records', source_records),
      (4, 'accepted', accepted),
      (5, 'canonical', canonical),   -- deals
      (6, 'ready', ready)            -- deals of companies ready for the CRM
    ) as s (step, stage, records)
)

select * from final;

comment on view etl.funnel is
  'records reaching each step per entity: versions_landed → source_records → valid_inn → accepted → canonical → ready (not_checked: canonical companies without a registry answer)';

create view etl.rejection_summary as
with final as (
  select entity, severity, reason, count(*) as records
  from etl.rejection
  where resolved_at is null
  group by entity, severity, reason
)

select * from final;

comment on view etl.rejection_summary is 'open rejections (resolved_at is null) per entity, severity and reason';
