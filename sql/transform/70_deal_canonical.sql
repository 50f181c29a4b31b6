-- One deal per accepted source order (no merging: an order is one sale), linked to its
-- canonical company and, when the order names an accepted person of that company, its
-- canonical contact. A deal whose order is deleted at the source or no longer accepted is
-- marked deleted, never erased. Items are replaced as a whole when the order's changed.

create or replace function etl.deal_title(source text, number text, source_key text) returns text
language sql immutable parallel safe as $$
  select format('Заказ %s (%s)', coalesce(number, source_key), case source when 'store_a' then 'магазин A' when 'store_b' then 'магазин B' else source end)
$$;

create or replace function etl.build_deals() returns void
language plpgsql as $$
begin
  create temp table tf_deal_built (deal_id bigint primary key) on commit drop;

  with wanted as (
    select
      s.source, s.source_key, s.number, etl.deal_title(s.source, s.number, s.source_key) as title,
      s.company_id, s.contact_id, s.stage_id, s.outcome, s.amount, s.currency,
      s.created_at as begin_at, s.closed_at as close_at, s.items
    from tf_order_key k
    join etl.source_order s using (source, source_key)
    where s.is_accepted
  ),
  upserted as (
    insert into canonical.deal as d (source, source_key, number, title, company_id, contact_id, stage_id, outcome, amount, currency,
                                     begin_at, close_at, is_deleted, row_hash)
    select w.source, w.source_key, w.number, w.title, w.company_id, w.contact_id, w.stage_id, w.outcome, w.amount, w.currency,
      w.begin_at, w.close_at, false,
      md5(row(w.number, w.title, w.company_id, w.contact_id, w.stage_id, w.outcome, w.amount, w.currency, w.begin_at, w.close_at, false, w.items)::text)::uuid
    from wanted w
    on conflict (source, source_key) do update set
      number = excluded.number, title = excluded.title, company_id = excluded.company_id, contact_id = excluded.contact_id,
      stage_id = excluded.stage_id, outcome = excluded.outcome, amount = excluded.amount, currency = excluded.currency,
      begin_at = excluded.begin_at, close_at = excluded.close_at, is_deleted = false, row_hash = excluded.row_hash,
      updated_at = now()
    where d.row_hash is distinct from excluded.row_hash
    returning d.deal_id
  )
  insert into tf_deal_built select deal_id from upserted;

  delete from canonical.deal_item i using tf_deal_built b where i.deal_id = b.deal_id;
  insert into canonical.deal_item (deal_id, line_no, sku, name, quantity, price)
  select d.deal_id, x.n, x.i ->> 'sku', x.i ->> 'name', (x.i ->> 'quantity')::numeric, (x.i ->> 'price')::numeric
  from tf_deal_built b
  join canonical.deal d using (deal_id)
  join etl.source_order s on s.source = d.source and s.source_key = d.source_key
  cross join lateral jsonb_array_elements(s.items) with ordinality as x(i, n)
  where not d.is_deleted;

  -- orders in scope that are no longer accepted: their deals are marked deleted
  with gone as (
    update canonical.deal d set is_deleted = true, updated_at = now(),
      row_hash = md5(row(d.number, d.title, d.company_id, d.contact_id, d.stage_id, d.outcome, d.amount, d.currency, d.begin_at, d.close_at, true)::text)::uuid
    from tf_order_key k
    join etl.source_order s using (source, source_key)
    where d.source = s.source and d.source_key = s.source_key and not s.is_accepted and not d.is_deleted
    returning d.deal_id
  )
  insert into tf_deal_built select deal_id from gone on conflict do nothing;
end
$$;
