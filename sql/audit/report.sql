-- The numbers of the data-quality report (`b2b-etl report`, the worker's /): each chart of the
-- page is one of these views, so an analyst querying them sees what the page shows.
-- Dropped and created again so a later version may change their columns (no cascade: a view of
-- your own built on them makes migrate fail with a clear error instead of vanishing).
drop view if exists etl.source_funnel, etl.rejection_by_source, etl.rejection_trend, etl.rejection_example,
  etl.merge_summary, etl.registry_status_summary, etl.crm_outcome;

-- Grain: one row per source and step: how many of the source's company records (by key, any
-- version) got that far. Each step is a subset of the one before: landed → a valid INN → the
-- registry says ACTIVE → feeds a live canonical company → that company is in a CRM (linked on
-- any portal). A company the registry has not answered for yet stops before step 3.
create view etl.source_funnel as
with landed as (
  select source, source_key
  from staging.record
  where entity = 'company'
  group by source, source_key
),

in_crm as (
  select distinct canonical_id as company_id
  from etl.crm_link
  where entity = 'company' and state = 'linked'
),

company_record as (
  select l.source,
    s.inn is not null and etl.inn_is_valid(s.inn) as has_valid_inn,
    coalesce(r.status = 'ACTIVE', false) as is_registry_active,
    c.company_id is not null and coalesce(s.is_accepted, false) as is_canonical,
    k.company_id is not null as is_in_crm
  from landed l
  left join etl.source_company s using (source, source_key)
  left join etl.registry_lookup r on r.inn = s.inn
  left join canonical.company_source cs on cs.source = l.source and cs.entity = 'company' and cs.source_key = l.source_key
  left join canonical.company c on c.company_id = cs.company_id and not c.is_deleted
  left join in_crm k on k.company_id = c.company_id
),

per_source as (
  select source,
    count(*) as landed,
    count(*) filter (where has_valid_inn) as valid_inn,
    count(*) filter (where has_valid_inn and is_registry_active) as registry_active,
    count(*) filter (where has_valid_inn and is_registry_active and is_canonical) as canonical,
    count(*) filter (where has_valid_inn and is_registry_active and is_canonical and is_in_crm) as in_crm
  from company_record
  group by source
),

final as (
  select p.source, s.step, s.stage, s.records
  from per_source p,
    lateral (values
      (1, 'landed', p.landed),
      (2, 'valid_inn', p.valid_inn),
      (3, 'registry_active', p.registry_active),
      (4, 'canonical', p.canonical),
      (5, 'in_crm', p.in_crm)
    ) as s (step, stage, records)
)

select * from final;

comment on view etl.source_funnel is
  'company records per source reaching each step: landed → valid_inn → registry_active → canonical → in_crm (each a subset of the one before)';

-- Grain: one row per entity, severity, reason and source: the rejections open now.
create view etl.rejection_by_source as
with final as (
  select entity, severity, reason, source, count(*) as records
  from etl.rejection
  where resolved_at is null
  group by entity, severity, reason, source
)

select * from final;

comment on view etl.rejection_by_source is 'open rejections (resolved_at is null) per entity, severity, reason and source';

-- Grain: one row per finished transform run (etl.run) and entity, severity, reason and source
-- ever rejected: the rejections open right after that run. A rejection is opened and resolved
-- inside a transform's transaction, stamped with that transaction's start, which comes before the
-- run's started_at and after the previous run's: each opening and resolution counts from the
-- first run that started at or after it. (A transform that began its transaction while another
-- still ran waits for it, and its changes may count one run early.)
create view etl.rejection_trend as
with run as (
  select run_id, kind, started_at, finished_at,
    coalesce(lag(started_at) over (order by run_id), '-infinity') as previous_started_at
  from etl.run
  where finished_at is not null
),

change as (
  -- one row per moment (a transform's transaction) and kind of rejection: few rows
  select entity, severity, reason, source, first_seen_at as at, count(*) as change
  from etl.rejection
  group by entity, severity, reason, source, first_seen_at
  union all
  select entity, severity, reason, source, resolved_at, -count(*)
  from etl.rejection
  where resolved_at is not null
  group by entity, severity, reason, source, resolved_at
),

change_per_run as (
  select r.run_id, c.entity, c.severity, c.reason, c.source, sum(c.change) as change
  from change c
  join run r on c.at > r.previous_started_at and c.at <= r.started_at
  group by r.run_id, c.entity, c.severity, c.reason, c.source
),

kind_of_rejection as (
  select distinct entity, severity, reason, source
  from change_per_run
),

final as (
  select r.run_id, r.kind, r.finished_at, k.entity, k.severity, k.reason, k.source,
    sum(coalesce(c.change, 0)) over (partition by k.entity, k.severity, k.reason, k.source order by r.run_id)::bigint as open
  from run r
  cross join kind_of_rejection k
  left join change_per_run c on c.run_id = r.run_id and c.entity = k.entity and c.severity = k.severity
    and c.reason = k.reason and c.source = k.source
)

select * from final;

comment on view etl.rejection_trend is
  'rejections open right after each finished transform run, per entity, severity, reason and source';

-- Grain: one row per open rejection, the newest three of each entity and reason: what was
-- rejected, and the command that tells its story (`b2b-etl why SOURCE:KEY`).
create view etl.rejection_example as
with ranked as (
  select r.*, row_number() over (partition by r.entity, r.reason order by r.last_seen_at desc, r.rejection_id desc) as rank
  from etl.rejection r
  where r.resolved_at is null
),

final as (
  select entity, severity, reason, source, source_key, value, detail, last_seen_at, rank,
    format('%s:%s', source, source_key) as subject,
    -- the subject as one shell word: single-quoted unless it is plain
    'b2b-etl why ' || case when format('%s:%s', source, source_key) ~ '^[A-Za-z0-9_.:@/+-]+$' then format('%s:%s', source, source_key)
                           else '''' || replace(format('%s:%s', source, source_key), '''', '''\''''') || '''' end as why_command
  from ranked
  where rank <= 3
)

select * from final;

comment on view etl.rejection_example is 'the newest three open rejections of each entity and reason, with the b2b-etl why command for each';

-- Grain: one row per entity and merge rule: how many merges that rule made.
create view etl.merge_summary as
with final as (
  select entity, rule, count(*) as merges
  from etl.merge
  group by entity, rule
)

select * from final;

comment on view etl.merge_summary is 'merges (etl.merge) per entity and rule';

-- Grain: one row per registry answer: the distinct valid INNs of the landed company records
-- by what the registry said of them (its status; "not found" when it knows no such INN; "not
-- checked yet" when it has not answered).
create view etl.registry_status_summary as
with inn as (
  select distinct inn
  from etl.source_company
  where inn is not null and etl.inn_is_valid(inn)
),

final as (
  select case when r.inn is null then 'not checked yet' when r.status is null then 'not found' else r.status end as status,
    count(*) as inns
  from inn i
  left join etl.registry_lookup r using (inn)
  group by 1
)

select * from final;

comment on view etl.registry_status_summary is
  'distinct valid INNs landed per registry status ("not found": the registry knows no such INN; "not checked yet": no answer)';

-- Grain: one row per portal, entity and outcome: what the pushes made of the clean base in
-- each portal's CRM — created, adopted (a manager's entity with our INN), failed, sent and
-- unanswered, deleted there by a manager (or let go), and ready but not pushed yet.
create view etl.crm_outcome as
with linked as (
  select portal, entity,
    case state
      when 'linked' then case how when 'adopted' then 'adopted' else 'created' end
      when 'failed' then 'failed'
      when 'sending' then 'sent, no answer yet'
      when 'deleted' then case when let_go_at is null then 'deleted in the CRM' else 'let go' end
    end as outcome
  from etl.crm_link
),

not_pushed as (
  select p.portal, 'company'::text as entity, 'not pushed yet'::text as outcome
  from etl.crm_portal p
  cross join etl.crm_company_out o
  where not exists (select from etl.crm_link l where l.portal = p.portal and l.entity = 'company' and l.canonical_id = o.company_id)
  union all
  select p.portal, 'contact', 'not pushed yet'
  from etl.crm_portal p
  cross join etl.crm_contact_out o
  where not exists (select from etl.crm_link l where l.portal = p.portal and l.entity = 'contact' and l.canonical_id = o.contact_id)
  union all
  select p.portal, 'deal', 'not pushed yet'
  from etl.crm_portal p
  cross join etl.crm_deal_out o
  where not exists (select from etl.crm_link l where l.portal = p.portal and l.entity = 'deal' and l.canonical_id = o.deal_id)
),

final as (
  select portal, entity, outcome, count(*) as records
  from (select * from linked union all select * from not_pushed) o
  group by portal, entity, outcome
)

select * from final;

comment on view etl.crm_outcome is
  'per portal and entity, what the pushes made of it: created, adopted, failed, sent with no answer yet, deleted in the CRM, let go, not pushed yet';
