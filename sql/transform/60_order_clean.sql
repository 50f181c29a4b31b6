-- Clean and validate the current version of each order source record in scope
-- (tf_order_key): its amount, currency and dates, its stage through etl.deal_stage_map, and
-- its canonical company (and contact) through the source records it names.
-- Grain of etl.source_order: one row per (source, source_key).

create or replace function etl.clean_orders(is_full boolean) returns void
language plpgsql as $$
begin
  if not is_full then
    -- orders whose company record changed INN or verdict, whose contact record changed, or
    -- whose person was recomputed (a merge may have moved it to another canonical contact)
    insert into tf_order_key (source, source_key)
    select s.source, s.source_key
    from tf_company_moved k
    join etl.source_order s on s.company_source = k.source and s.company_key = k.source_key
    on conflict do nothing;
    insert into tf_order_key (source, source_key)
    select s.source, s.source_key
    from tf_contact_key k
    join etl.source_order s on s.company_source = k.source and s.contact_key = k.source_key
    on conflict do nothing;
    insert into tf_order_key (source, source_key)
    select d.source, d.source_key
    from tf_contact_touched t
    join canonical.deal d on d.contact_id = t.contact_id
    on conflict do nothing;
  end if;
  -- orders of a status whose mapping an analyst changed (taken and cleared in one statement)
  with taken as (delete from etl.deal_stage_changed returning source, source_status)
  insert into tf_order_key (source, source_key)
  select s.source, s.source_key from taken join etl.source_order s on s.source = taken.source and s.status = taken.source_status
  on conflict do nothing;
  analyze tf_order_key;

  create temp table tf_order_current on commit drop as
  select r.source, r.source_key, r.staging_id, r.has_newer_unreadable
  from tf_order_key k
  join staging.current_version r on r.source = k.source and r.entity = 'order' and r.source_key = k.source_key;
  analyze tf_order_current;

  create temp table tf_order_clean on commit drop as
  with mapped as (
    -- by id, as a condition that reaches every branch of the union (see etl.clean_contacts)
    select v.*
    from staging.order_version v
    where v.staging_id = any (array(select staging_id from tf_order_current))
  ),

  cleaned as (
    select
      m.source,
      m.source_key,
      m.staging_id,
      m.is_unparseable,
      m.is_deleted,
      m.landing_issues,
      m.company_source,
      etl.clean_text(m.company_key) as company_key,
      etl.clean_text(m.contact_key) as contact_key,
      etl.clean_text(m.number) as number,
      lower(etl.clean_text(m.status)) as status,
      m.total as total_text,
      etl.parse_amount(m.total) as amount,
      m.currency as currency_text,
      etl.clean_currency(m.currency) as currency,
      m.source_created_at as created_at,
      m.source_updated_at,
      m.created_text,
      m.items_shape,
      lines.items,
      lines.items_amount,
      lines.item_count,
      lines.bad_items
    from mapped m
    -- each line parsed once: the lines in one shape, their sum, their count, and those that are no line
    cross join lateral (
      select
        coalesce(jsonb_agg(jsonb_build_object('sku', l.sku, 'name', l.name, 'quantity', l.quantity, 'price', l.price) order by l.n), '[]') as items,
        -- unrounded numeric: a sum of lines never overflows here; a line that does not fit is refused below
        sum(round(l.quantity * l.price, 2)) as items_amount,
        count(*) as item_count,
        count(*) filter (where coalesce(l.quantity, 0) <= 0 or coalesce(l.price, -1) < 0) as bad_items
      from (
        select x.n, etl.clean_text(x.i ->> 'sku') as sku,
          coalesce(etl.clean_text(x.i ->> 'name'), etl.clean_text(x.i ->> 'sku'), 'item ' || x.n) as name,
          etl.parse_quantity(x.i ->> m.item_quantity_key) as quantity,
          etl.parse_amount(x.i ->> 'price') as price
        from jsonb_array_elements(m.items) with ordinality as x (i, n)
      ) as l
    ) as lines
  )

  select
    c.*,
    sc.source_key is not null as has_company,
    coalesce(sc.is_accepted, false) as is_company_accepted,
    cc.company_id,
    sm.stage_id,
    sm.outcome,
    (select cs.contact_id
     from etl.source_contact sct
     join canonical.contact_source cs on cs.source = sct.source and cs.entity = 'contact' and cs.source_key = sct.source_key
     where sct.source = c.company_source and sct.source_key = c.contact_key and sct.is_accepted and sct.company_id = cc.company_id) as contact_id
  from cleaned c
  left join etl.source_company sc on sc.source = c.company_source and sc.source_key = c.company_key
  left join canonical.company cc on cc.inn = sc.inn and sc.is_accepted
  -- a status matches its map row without regard to case or spaces (one row per status: a unique index says so)
  left join etl.deal_stage_map sm on sm.source = c.source and lower(btrim(sm.source_status)) = c.status;

  insert into tf_problem (source, entity, source_key, staging_id, reason, severity, detail, value)
  select source, 'order', source_key, c.staging_id, problem.*
  from tf_order_clean c
  join tf_order_current cur using (source, source_key)
  cross join lateral (
    select * from etl.landing_problems(c.landing_issues, c.is_unparseable, cur.has_newer_unreadable)
    union all
    select * from etl.company_problems(c.company_source, c.company_key, c.has_company, c.is_company_accepted)
      where not c.is_unparseable and not c.is_deleted
    union all
    select 'out_of_window', 'error',
      format('placed %s, before the load window starting %s', c.created_at::date, etl.window_start()::date), c.created_at::text
      where not c.is_unparseable and not c.is_deleted and c.created_at < etl.window_start()
    union all
    select 'created_missing', 'error', 'no creation time: a deal needs its date', null::text
      where not c.is_unparseable and not c.is_deleted and c.created_at is null and nullif(btrim(c.created_text), '') is null
    union all
    select 'created_unparseable', 'error',
      'the creation time is not ISO-8601 with an offset (2025-03-01T10:00:00+03:00) or a date (2025-03-01): nothing is guessed', c.created_text
      where not c.is_unparseable and not c.is_deleted and c.created_at is null and nullif(btrim(c.created_text), '') is not null
    union all
    select 'created_in_future', 'error', format('placed %s, after now: a CRM cannot import it', c.created_at), c.created_text
      where not c.is_unparseable and not c.is_deleted and c.created_at > now() + interval '1 day'
    union all
    select 'stage_unmapped', 'error',
      format('status %s of %s has no row in etl.deal_stage_map', coalesce(quote_literal(c.status), 'NULL'), c.source), c.status
      where not c.is_unparseable and not c.is_deleted and c.stage_id is null
    union all
    select 'amount_invalid', 'error', case when c.amount < 0 then 'the total is negative' else 'the total is not a number of at most 14 digits before the point' end, c.total_text
      where not c.is_unparseable and not c.is_deleted and (c.amount is null or c.amount < 0)
    union all
    select 'currency_invalid', 'error', 'the currency is not a three-letter ISO 4217 code', c.currency_text
      where not c.is_unparseable and not c.is_deleted and c.currency is null
    union all
    select 'item_invalid', 'error', format('items is a JSON %s, not a list of items', c.items_shape), null::text
      where not c.is_unparseable and not c.is_deleted and c.items_shape not in ('array', 'null')
    union all
    select 'item_invalid', 'error', format('%s of its %s items have no positive quantity or no price of at most 14 digits', c.bad_items, c.item_count), null::text
      where not c.is_unparseable and not c.is_deleted and c.bad_items > 0 and c.items_shape = 'array'
    union all
    select 'total_mismatch', 'warning',
      case when c.item_count = 0 then format('the order lists no items; its total %s stands', c.amount)
           else format('the total %s is not the sum of its items, %s; the total stands', c.amount, c.items_amount) end,
      c.amount::text
      where not c.is_unparseable and not c.is_deleted and c.bad_items = 0 and c.amount >= 0
        and coalesce(c.items_shape, 'null') in ('array', 'null') and c.amount is distinct from coalesce(c.items_amount, 0)
  ) as problem(reason, severity, detail, value);
  analyze tf_problem;

  insert into etl.source_order as s (
    source, source_key, staging_id, number, company_source, company_key, company_id, contact_key, contact_id,
    status, stage_id, outcome, amount, items_amount, currency, created_at, closed_at, items, source_updated_at,
    is_deleted, is_accepted)
  select
    c.source, c.source_key, c.staging_id, c.number, c.company_source, c.company_key, c.company_id, c.contact_key, c.contact_id,
    c.status, c.stage_id, c.outcome, c.amount, c.items_amount, c.currency, c.created_at,
    case when c.outcome in ('won', 'lost') then coalesce(c.source_updated_at, c.created_at) end,
    c.items, c.source_updated_at, c.is_deleted,
    not c.is_deleted and c.company_id is not null and not exists (
      select from tf_problem p
      where p.source = c.source and p.entity = 'order' and p.source_key = c.source_key and p.severity = 'error')
  from tf_order_clean c
  on conflict (source, source_key) do update set
    staging_id = excluded.staging_id, number = excluded.number, company_source = excluded.company_source,
    company_key = excluded.company_key, company_id = excluded.company_id, contact_key = excluded.contact_key,
    contact_id = excluded.contact_id, status = excluded.status, stage_id = excluded.stage_id, outcome = excluded.outcome,
    amount = excluded.amount, items_amount = excluded.items_amount, currency = excluded.currency,
    created_at = excluded.created_at, closed_at = excluded.closed_at, items = excluded.items,
    source_updated_at = excluded.source_updated_at, is_deleted = excluded.is_deleted, is_accepted = excluded.is_accepted
  where (s.staging_id, s.company_id, s.contact_id, s.stage_id, s.outcome, s.amount, s.currency, s.items, s.is_deleted, s.is_accepted)
        is distinct from
        (excluded.staging_id, excluded.company_id, excluded.contact_id, excluded.stage_id, excluded.outcome, excluded.amount,
         excluded.currency, excluded.items, excluded.is_deleted, excluded.is_accepted);
end
$$;
