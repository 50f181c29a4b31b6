-- etl.why('7707083893') or etl.why('store_b:B-17'): the story of a company (by INN) or of
-- one source record, in plain words: where it came from, every version landed, every
-- rejection and merge with its reason, the registry answer, and what canonical row it became.
-- Every fact is under a heading (record): the canonical company first, as
-- "canonical company ID (INN …)" with the registry's answer for its INN (an INN no canonical
-- company has: "INN … (no canonical company)") and its deals, then each source record as
-- source:key (entity): one key may name a company and a contact; an order tells the deal it is.
-- Grain: one row per fact, in reading order: heading by heading, each heading's facts together.
-- One sentence about a canonical row in a portal's CRM: its Bitrix id, how it got there,
-- when it was last pushed and whether what it holds is what the clean base says now.
-- The last error is the newest of etl.crm_push_error for the row, kept on the link or not.
drop function if exists etl.crm_story(text, etl.crm_link, uuid, text);
create or replace function etl.crm_story(entity text, l etl.crm_link, out_hash uuid)
returns text
language sql stable as $$
  with last as (
    select format('%s %s: %s', x.method, x.code, x.description) as last_error from etl.crm_push_error x
    where x.portal = l.portal and x.entity = crm_story.entity and x.canonical_id = l.canonical_id
    order by x.failed_at desc limit 1
  )
  select format('%s on %s: ', case when l.bitrix_id is null then 'no CRM ' || entity else 'CRM ' || entity || ' ' || l.bitrix_id end, l.portal)
    || case l.state
         when 'sending' then 'a write got no answer ' || coalesce('(' || to_char(l.intent_at, 'YYYY-MM-DD HH24:MI') || ')', '')
           || '; the next push looks it up before sending anything again'
         when 'failed' then 'failed: ' || coalesce(l.last_error, last_error, 'no reason kept')
         when 'deleted' then 'deleted in the CRM (noticed ' || coalesce(to_char(l.deleted_at, 'YYYY-MM-DD HH24:MI'), 'by a push') || ')'
           || case when l.let_go_at is not null then '; let go ' || to_char(l.let_go_at, 'YYYY-MM-DD HH24:MI') || ': it stays out of the CRM'
                   else '; not created again' || case when entity = 'company' then ', its contacts wait' else '' end
                     || ': b2b-etl crm restore brings it back, b2b-etl crm let-go lets it go' end
         else concat_ws('', case l.how when 'adopted' then 'adopted (it was in the CRM already, a manager''s)' else 'created' end,
           coalesce(' by ' || l.mode, ''), coalesce(', last pushed ' || to_char(l.pushed_at, 'YYYY-MM-DD HH24:MI'), ''),
           case when out_hash is null then '; no longer in the clean base, left in the CRM as it is'
                when l.pushed_hash = out_hash then '; up to date as last pushed'
                else '; changed since, sent by the next push' end,
           case when l.last_error is not null then '; last error: ' || l.last_error
                when last_error is not null and l.pushed_hash is distinct from out_hash then '; last error: ' || last_error end)
       end
  from (select) one left join last on true
$$;

create or replace function etl.why(subject text)
returns table (record text, at timestamptz, kind text, story text)
language sql stable as $$
  with wanted as (
    -- an INN names every source company that carried it; source:key names one record
    select s.source, 'company'::text as entity, s.source_key
    from etl.source_company s
    where subject !~ ':' and s.inn = etl.strip_spaces(subject)
    union
    select r.source, r.entity, r.source_key
    from staging.record r
    where subject ~ ':' and r.source = split_part(subject, ':', 1)
      and r.source_key = substr(subject, length(split_part(subject, ':', 1)) + 2)
    union
    select r.source, r.entity, r.source_key
    from etl.rejection r
    where subject !~ ':' and r.entity = 'company' and etl.strip_spaces(r.value) = etl.strip_spaces(subject)
  ),

  company_now as (
    select distinct c.*, format('canonical company %s (INN %s)', c.company_id, c.inn) as label
    from canonical.company c
    where c.inn = etl.strip_spaces(subject)
       or c.company_id in (select cs.company_id from canonical.company_source cs join wanted w using (source, entity, source_key))
  ),

  labelled as (
    select w.*, format('%s:%s (%s)', w.source, w.source_key, w.entity) as label
    from wanted w
  ),

  facts as (
    select 1 as section, c.label as record, c.updated_at as at, 'canonical' as kind, 1 as step,
      format('canonical company %s: %s, INN %s%s, %s source record(s)%s',
        c.company_id, coalesce(c.name, '(no name)'), c.inn, coalesce(', KPP ' || c.kpp, ''),
        c.source_count, case when c.is_deleted then ', marked deleted (no accepted source left)' else '' end) as story
    from company_now c

    union all
    select 1, coalesce(c.label, format('INN %s (no canonical company)', l.inn)), l.fetched_at, 'registry', 2,
      format('registry (%s) says %s%s: %s, fetched %s, valid until %s', l.provider, coalesce(l.status, 'not found'),
        coalesce(', liquidated ' || l.liquidation_date, ''), coalesce(l.full_name, l.short_name, '-'),
        to_char(l.fetched_at, 'YYYY-MM-DD HH24:MI'), to_char(l.expires_at, 'YYYY-MM-DD'))
    from etl.registry_lookup l
    left join company_now c using (inn)
    where l.inn = etl.strip_spaces(subject) or l.inn in (select inn from company_now)

    union all
    -- the CRM: which entity it is on each portal, and what the last push did with it
    select 1, c.label, coalesce(l.pushed_at, l.intent_at), 'crm', 3, etl.crm_story('company', l, o.out_hash)
    from company_now c
    join etl.crm_link l on l.entity = 'company' and l.canonical_id = c.company_id
    left join etl.crm_company_out o on o.company_id = c.company_id

    union all
    select 1, c.label, null, 'crm', 3, 'not pushed to a CRM yet (ready for it: b2b-etl push)'
    from company_now c
    where exists (select from etl.crm_company_out o where o.company_id = c.company_id)
      and not exists (select from etl.crm_link l where l.entity = 'company' and l.canonical_id = c.company_id)

    union all
    select 2, w.label, r.landed_at, 'landed', 3,
      format('%s %s version landed in batch %s from %s%s%s', w.source, w.entity, r.batch_id, b.origin,
        coalesce(', source updated ' || to_char(r.source_updated_at, 'YYYY-MM-DD HH24:MI'), ''),
        case when r.payload is null then ', unparseable: ' || left(r.raw_text, 80)
             when r.is_deleted then ', a deletion' else '' end)
    from labelled w
    join staging.record r on r.source = w.source and r.entity = w.entity and r.source_key = w.source_key
    join staging.batch b using (batch_id)

    union all
    select 2, w.label, coalesce(r.resolved_at, r.last_seen_at), 'rejection', 4,
      format('%s %s: %s%s; first seen %s%s', r.severity, r.reason, r.detail,
        coalesce(' (value ' || quote_literal(r.value) || ')', ''), to_char(r.first_seen_at, 'YYYY-MM-DD HH24:MI'),
        case when r.resolved_at is null then ', still applies'
             else ', resolved ' || to_char(r.resolved_at, 'YYYY-MM-DD HH24:MI') || ' (no longer applies)' end)
    from labelled w
    join etl.rejection r on r.source = w.source and r.entity = w.entity and r.source_key = w.source_key

    union all
    select 2, w.label, m.merged_at, 'merge', 5,
      format('merged into canonical %s %s by rule %s%s', m.entity, m.canonical_id, m.rule, coalesce(' (' || m.value || ')', ''))
    from labelled w
    join etl.merge m on m.source = w.source and m.source_key = w.source_key and m.entity = w.entity

    union all
    select 2, w.label, cs.linked_at, 'became', 6,
      format('feeds canonical company %s (INN %s)', cs.company_id, c.inn)
    from labelled w
    join canonical.company_source cs using (source, entity, source_key)
    join canonical.company c using (company_id)

    union all
    select 2, w.label, cs.linked_at, 'became', 6,
      format('feeds canonical contact %s (%s) of company %s', cs.contact_id,
        concat_ws(' ', c.last_name, c.first_name, c.middle_name), c.company_id)
    from labelled w
    join canonical.contact_source cs using (source, entity, source_key)
    join canonical.contact c using (contact_id)

    union all
    select 2, w.label, coalesce(l.pushed_at, l.intent_at), 'crm', 7, etl.crm_story('contact', l, o.out_hash)
    from labelled w
    join canonical.contact_source cs using (source, entity, source_key)
    join etl.crm_link l on l.entity = 'contact' and l.canonical_id = cs.contact_id
    left join etl.crm_contact_out o on o.contact_id = cs.contact_id

    union all
    -- a contact not in a CRM because its company was deleted there: it waits for a person
    select 2, w.label, cl.deleted_at, 'crm', 7,
      format('not in the CRM on %s: its company (CRM company %s) was deleted in the CRM (noticed %s); it waits%s', cl.portal, cl.bitrix_id,
        to_char(cl.deleted_at, 'YYYY-MM-DD HH24:MI'),
        case when cl.let_go_at is not null then ' for good: the company was let go' else ' until b2b-etl crm restore brings the company back' end)
    from labelled w
    join canonical.contact_source cs using (source, entity, source_key)
    join canonical.contact ct on ct.contact_id = cs.contact_id
    join etl.crm_link cl on cl.entity = 'company' and cl.canonical_id = ct.company_id and cl.state = 'deleted'
    where not exists (select from etl.crm_link l where l.portal = cl.portal and l.entity = 'contact' and l.canonical_id = ct.contact_id and l.state in ('linked', 'deleted'))

    union all
    select 2, w.label, null, 'dropped', 6,
      'feeds no canonical row: ' || case when s.is_deleted then 'deleted at the source' else 'rejected, see above' end
    from labelled w
    join etl.source_company s on s.source = w.source and s.source_key = w.source_key and w.entity = 'company'
    where not s.is_accepted

    union all
    select 2, w.label, null, 'dropped', 6,
      'feeds no canonical row: ' || case when s.is_deleted then 'deleted at the source' else 'rejected, see above' end
    from labelled w
    join etl.source_contact s on s.source = w.source and s.source_key = w.source_key and w.entity = 'contact'
    where not s.is_accepted

    union all
    -- an order: the deal it is, or why it is none
    select 2, w.label, d.updated_at, 'became', 6,
      format('is canonical deal %s%s: %s, stage %s (%s), %s %s, placed %s, of company %s (INN %s)%s',
        d.deal_id, case when d.is_deleted then ' (marked deleted: its order is no longer accepted)' else '' end,
        d.title, d.stage_id, d.outcome, d.amount, d.currency, to_char(d.begin_at, 'YYYY-MM-DD'), d.company_id, c.inn,
        coalesce(', contact ' || d.contact_id, ', no contact'))
    from labelled w
    join canonical.deal d on d.source = w.source and d.source_key = w.source_key and w.entity = 'order'
    join canonical.company c on c.company_id = d.company_id

    union all
    select 2, w.label, s.source_updated_at, 'dropped', 6,
      'is no deal: ' || case when s.is_deleted then 'deleted at the source' else 'rejected, see above' end
    from labelled w
    join etl.source_order s on s.source = w.source and s.source_key = w.source_key and w.entity = 'order'
    where not s.is_accepted
      and not exists (select from canonical.deal d where d.source = s.source and d.source_key = s.source_key)

    union all
    -- a company: its deals, newest first (the first 20), and its orders that are none
    select 1, c.label, max(d.updated_at), 'deals', 4,
      format('%s deal(s) from orders: %s won, %s lost, %s open; won %s%s', count(*),
        count(*) filter (where d.outcome = 'won'), count(*) filter (where d.outcome = 'lost'), count(*) filter (where d.outcome = 'open'),
        coalesce((select string_agg(format('%s %s', t.amount, t.currency), ', ' order by t.currency)
                  from (select x.currency, sum(x.amount) as amount from canonical.deal x
                        where x.company_id = c.company_id and not x.is_deleted and x.outcome = 'won' group by x.currency) t), 'nothing'),
        case when count(*) > 20 then format(' (the newest 20 below; all: select * from canonical.deal where company_id = %s)', c.company_id) else '' end)
    from company_now c
    join canonical.deal d on d.company_id = c.company_id and not d.is_deleted
    group by c.label, c.company_id

    union all
    select 1, c.label, d.begin_at, 'deal', 5,
      format('deal %s from %s:%s: %s, %s (%s), %s %s', d.deal_id, d.source, d.source_key, d.title, d.stage_id, d.outcome, d.amount, d.currency)
    from company_now c
    cross join lateral (select * from canonical.deal x where x.company_id = c.company_id and not x.is_deleted order by x.begin_at desc, x.deal_id limit 20) d

    union all
    select 1, c.label, max(o.source_updated_at), 'deal', 5,
      format('%s order(s) of its source records are no deal: %s%s (etl.why(''source:key'') tells one)', count(*),
        array_to_string((array_agg(o.source || ':' || o.source_key order by o.source, o.source_key))[1:10], ', '),
        case when count(*) > 10 then ', …' else '' end)
    from company_now c
    join canonical.company_source cs on cs.company_id = c.company_id
    join etl.source_order o on o.company_source = cs.source and o.company_key = cs.source_key and not o.is_accepted and not o.is_deleted
    group by c.label
  )

  select record, at, kind, story
  from facts
  order by section, record, step, at nulls last, story
$$;
