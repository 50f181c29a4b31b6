-- The CRM side of `b2b-etl status`, for people and for analysts: per portal, what is in it,
-- what waits, what failed and why, what a manager deleted there. Dropped and created again so
-- a later version may change their columns.
drop view if exists etl.crm_portal_status, etl.crm_failure_summary, etl.crm_deleted;

-- Grain: one row per company, contact or deal a manager deleted in a portal's CRM: it is kept out of
-- it (not created again) until a person restores it (b2b-etl crm restore) or lets it go
-- (b2b-etl crm let-go). A company's contacts that are not in the CRM wait with it.
create view etl.crm_deleted as
with deleted as (
  select l.portal, l.entity, l.canonical_id, l.bitrix_id, l.deleted_at, l.let_go_at
  from etl.crm_link l
  where l.state = 'deleted'
),

waiting as (
  select d.portal, d.canonical_id, count(*) as contacts_waiting
  from deleted d
  join canonical.contact k on k.company_id = d.canonical_id and not k.is_deleted
  where d.entity = 'company'
    and not exists (select from etl.crm_link kl where kl.portal = d.portal and kl.entity = 'contact' and kl.canonical_id = k.contact_id
                      and kl.state in ('linked', 'deleted'))
  group by d.portal, d.canonical_id
),

final as (
  select d.portal, d.entity, d.canonical_id, d.bitrix_id, d.deleted_at, d.let_go_at,
    case d.entity when 'company' then concat_ws(' ', 'INN ' || c.inn, c.name) when 'deal' then dl.title else concat_ws(' ', ct.last_name, ct.first_name, ct.middle_name) end as label,
    coalesce(w.contacts_waiting, 0) as contacts_waiting
  from deleted d
  left join canonical.company c on d.entity = 'company' and c.company_id = d.canonical_id
  left join canonical.contact ct on d.entity = 'contact' and ct.contact_id = d.canonical_id
  left join canonical.deal dl on d.entity = 'deal' and dl.deal_id = d.canonical_id
  left join waiting w on w.portal = d.portal and w.canonical_id = d.canonical_id
)

select * from final;

-- Grain: one row per portal, entity and reason: the entities whose last push failed (not in
-- the CRM, or a part of them missing), with the portal's words for one of them.
create view etl.crm_failure_summary as
with failing as (
  select l.portal, l.entity, l.canonical_id, e.method, e.code, e.description, e.failed_at
  from etl.crm_link l
  left join lateral (
    select x.method, x.code, x.description, x.failed_at from etl.crm_push_error x
    where x.portal = l.portal and x.entity = l.entity and x.canonical_id = l.canonical_id
    order by x.failed_at desc limit 1
  ) e on true
  where l.state = 'failed' or (l.state = 'linked' and l.last_error is not null)
),

final as (
  select portal, entity, coalesce(method || coalesce(': ' || nullif(code, ''), ''), 'no reason kept') as reason,
    count(*) as entities, max(failed_at) as last_failed_at, min(description) as example
  from failing
  group by 1, 2, 3
)

select * from final;

-- Grain: one row per portal this warehouse pushes to: its addresses, what is linked, what the
-- next push has to send, what waits for a person, and its last push.
create view etl.crm_portal_status as
with addresses as (
  select portal, string_agg(address, ', ' order by first_seen_at) as addresses
  from etl.crm_portal_address
  group by portal
),

links as (
  select portal,
    count(*) filter (where entity = 'company' and state = 'linked') as companies_linked,
    count(*) filter (where entity = 'contact' and state = 'linked') as contacts_linked,
    count(*) filter (where entity = 'deal' and state = 'linked') as deals_linked,
    count(*) filter (where state = 'failed' or (state = 'linked' and last_error is not null)) as failed,
    -- sent and not answered; a row a dead push claimed and never sent is released by the next push
    count(*) filter (where state = 'sending' and (sent_at is not null or bitrix_id is not null)) as unanswered,
    count(*) filter (where state = 'deleted' and entity = 'company' and let_go_at is null) as companies_deleted,
    count(*) filter (where state = 'deleted' and entity = 'contact' and let_go_at is null) as contacts_deleted,
    count(*) filter (where state = 'deleted' and entity = 'deal' and let_go_at is null) as deals_deleted,
    count(*) filter (where state = 'deleted' and let_go_at is not null) as let_go
  from etl.crm_link
  group by portal
),

pending_companies as (
  select p.portal, count(*) as companies_pending
  from etl.crm_portal p
  cross join etl.crm_company_out o
  left join etl.crm_link l on l.portal = p.portal and l.entity = 'company' and l.canonical_id = o.company_id
  where l.canonical_id is null or (l.state = 'failed' and l.bitrix_id is null) or (l.state = 'linked' and l.pushed_hash is distinct from o.out_hash)
  group by p.portal
),

pending_contacts as (
  select p.portal, count(*) as contacts_pending
  from etl.crm_portal p
  cross join etl.crm_contact_out o
  left join etl.crm_link l on l.portal = p.portal and l.entity = 'contact' and l.canonical_id = o.contact_id
  where (l.canonical_id is null or (l.state = 'failed' and l.bitrix_id is null) or (l.state = 'linked' and l.pushed_hash is distinct from o.out_hash))
    and not exists (select from etl.crm_link cl where cl.portal = p.portal and cl.entity = 'company' and cl.canonical_id = o.company_id and cl.state = 'deleted')
  group by p.portal
),

pending_deals as (
  -- deals of companies linked there (the others wait for their company)
  select p.portal, count(*) as deals_pending
  from etl.crm_portal p
  cross join etl.crm_deal_out o
  left join etl.crm_link l on l.portal = p.portal and l.entity = 'deal' and l.canonical_id = o.deal_id
  where (l.canonical_id is null or (l.state = 'failed' and l.bitrix_id is null) or (l.state = 'linked' and l.pushed_hash is distinct from o.out_hash))
    and exists (select from etl.crm_link cl where cl.portal = p.portal and cl.entity = 'company' and cl.canonical_id = o.company_id and cl.state = 'linked')
  group by p.portal
),

waiting as (
  select portal, sum(contacts_waiting) filter (where let_go_at is null) as contacts_waiting
  from etl.crm_deleted
  group by portal
),

runs as (
  select distinct on (portal) portal, run_id as last_run_id, started_at as last_started_at, finished_at as last_finished_at, stats as last_stats
  from etl.crm_push_run
  where not dry_run
  order by portal, run_id desc
),

unfinished as (
  -- started after the last run that finished and never finished: running now, or killed since
  select u.portal, count(*) as unfinished_runs, max(u.started_at) as last_unfinished_at
  from etl.crm_push_run u
  where u.finished_at is null and not u.dry_run
    and u.run_id > coalesce((select max(f.run_id) from etl.crm_push_run f where f.portal = u.portal and f.finished_at is not null and not f.dry_run), 0)
  group by u.portal
),

final as (
  select p.portal, a.addresses,
    coalesce(l.companies_linked, 0) as companies_linked, coalesce(l.contacts_linked, 0) as contacts_linked,
    coalesce(pc.companies_pending, 0) as companies_pending, coalesce(pk.contacts_pending, 0) as contacts_pending,
    coalesce(l.failed, 0) as failed, coalesce(l.unanswered, 0) as unanswered,
    coalesce(l.companies_deleted, 0) as companies_deleted, coalesce(l.contacts_deleted, 0) as contacts_deleted,
    coalesce(w.contacts_waiting, 0) as contacts_waiting, coalesce(l.let_go, 0) as let_go,
    r.last_run_id, r.last_started_at, r.last_finished_at, r.last_stats,
    coalesce(u.unfinished_runs, 0) as unfinished_runs, u.last_unfinished_at,
    coalesce(l.deals_linked, 0) as deals_linked, coalesce(pd.deals_pending, 0) as deals_pending, coalesce(l.deals_deleted, 0) as deals_deleted
  from etl.crm_portal p
  left join addresses a using (portal)
  left join links l using (portal)
  left join pending_companies pc using (portal)
  left join pending_contacts pk using (portal)
  left join pending_deals pd using (portal)
  left join waiting w using (portal)
  left join runs r using (portal)
  left join unfinished u using (portal)
)

select * from final;

comment on view etl.crm_portal_status is 'one row per portal: addresses, linked, pending for the next push, failed, unanswered, deleted in the CRM, contacts waiting for a deleted company, last and unfinished push runs';
comment on view etl.crm_failure_summary is 'entities whose last push failed, per portal, entity and reason (the method and the portal''s code), with one of the portal''s descriptions';
comment on view etl.crm_deleted is 'companies and contacts a manager deleted in a portal''s CRM: kept out of it until b2b-etl crm restore; let_go_at when a person let one go';
