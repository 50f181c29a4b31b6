-- Dedupe contacts within each company: accepted source contacts that share an E.164 phone
-- or an e-mail, directly or through others, are one person.
-- Ids: a person keeps the oldest canonical id among its members; the others are merged
-- away and logged; a person with no id yet gets a new one.
--
-- Scope. A full or large run recomputes every person of the companies in
-- tf_contact_company. A small run (etl.small_run) recomputes only the persons its records
-- can touch: the persons the changed records belonged to, and the persons holding a phone
-- or e-mail a changed record now has in its company. One step of that is enough: two
-- persons of one company that no changed record touches share no value (else they would
-- be one person already), so no other person can join or split.

create or replace function etl.build_contacts() returns void
language plpgsql as $$
declare
  changed int;
  by_person constant boolean := etl.is_small_run();
begin
  -- Canonical persons in scope: any of them that no member holds after this run is deleted.
  create temp table tf_contact_touched (contact_id bigint primary key) on commit drop;
  if by_person then
    perform etl.prefer_lookups(true);
    create temp table tf_contact_seed on commit drop as
    select s.* from tf_contact_key k join etl.source_contact s using (source, source_key);

    -- the persons the changed records belonged to (lineage is still the last run's)
    insert into tf_contact_touched
    select cs.contact_id
    from tf_contact_key k
    join canonical.contact_source cs on cs.source = k.source and cs.entity = 'contact' and cs.source_key = k.source_key
    on conflict do nothing;

    -- the persons holding a value a changed record has now, in its company
    insert into tf_contact_touched
    select cs.contact_id
    from (
      select company_id, phone as value from tf_contact_seed, unnest(phones) as phone where is_accepted
      union
      select company_id, email from tf_contact_seed, unnest(emails) as email where is_accepted
    ) as v
    join etl.source_contact s on s.company_id = v.company_id and s.is_accepted
      and (v.value = any (s.phones) or v.value = any (s.emails))
    join canonical.contact_source cs on cs.source = s.source and cs.entity = 'contact' and cs.source_key = s.source_key
    on conflict do nothing;

    create temp table tf_contact_member on commit drop as
    select s.*, row_number() over (order by s.company_id, s.source, s.source_key) as node
    from (
      select source, source_key from tf_contact_seed where is_accepted
      union
      select cs.source, cs.source_key
      from tf_contact_touched t
      join canonical.contact_source cs on cs.contact_id = t.contact_id and cs.entity = 'contact'
    ) as k
    join etl.source_contact s using (source, source_key)
    where s.is_accepted;
    perform etl.prefer_lookups(false);
  else
    analyze tf_contact_company;
    insert into tf_contact_touched
    select c.contact_id from tf_contact_company k join canonical.contact c using (company_id);

    create temp table tf_contact_member on commit drop as
    select s.*, row_number() over (order by s.company_id, s.source, s.source_key) as node
    from tf_contact_company c
    join etl.source_contact s on s.company_id = c.company_id
    where s.is_accepted;
  end if;
  create index on tf_contact_member (node);
  analyze tf_contact_member;

  -- What links two members: the same phone or e-mail inside one company.
  create temp table tf_contact_link on commit drop as
  select company_id, 'shared_phone' as rule, phone as value, node
  from tf_contact_member, unnest(phones) as phone
  union
  select company_id, 'shared_email', email, node
  from tf_contact_member, unnest(emails) as email;
  create index on tf_contact_link (company_id, rule, value);
  create index on tf_contact_link (node);

  -- Connected components by label propagation: every member takes the smallest label
  -- reachable through a shared value. The first pass gives each shared value the smallest
  -- label of its holders; after that only members whose label just dropped pass it on.
  create temp table tf_contact_label on commit drop as
  select node, node as label from tf_contact_member;
  create unique index on tf_contact_label (node);
  analyze tf_contact_link;
  analyze tf_contact_label;

  create temp table tf_contact_frontier on commit drop as select node from tf_contact_label;
  loop
    create temp table tf_contact_lower on commit drop as
    select k2.node, min(l.label) as label
    from tf_contact_frontier f
    join tf_contact_link k on k.node = f.node
    join tf_contact_label l on l.node = f.node
    join tf_contact_link k2 on k2.company_id = k.company_id and k2.rule = k.rule and k2.value = k.value and k2.node <> k.node
    group by k2.node;

    update tf_contact_label l set label = lower.label
    from tf_contact_lower lower
    where lower.node = l.node and lower.label < l.label;
    get diagnostics changed = row_count;

    drop table tf_contact_frontier;
    create temp table tf_contact_frontier on commit drop as
    select lower.node from tf_contact_lower lower join tf_contact_label l using (node) where l.label = lower.label;
    drop table tf_contact_lower;
    exit when changed = 0;
  end loop;

  -- Which existing canonical ids each component holds, and who wins a contested id.
  perform etl.prefer_lookups(true);
  create temp table tf_contact_claim on commit drop as
  with linked as materialized (
    -- each member's current canonical id, found by its key (the lineage table's primary key)
    select m.node, m.company_id, cs.contact_id
    from tf_contact_member m
    join canonical.contact_source cs on cs.source = m.source and cs.entity = 'contact' and cs.source_key = m.source_key
  ),

  held as (
    select l.label, k.contact_id, count(*) as members
    from linked k
    join tf_contact_label l using (node)
    join canonical.contact cc on cc.contact_id = k.contact_id and cc.company_id = k.company_id
    group by l.label, k.contact_id
  ),

  won as (
    select distinct on (contact_id) label, contact_id
    from held
    order by contact_id, members desc, label
  )

  select label, contact_id from won;
  perform etl.prefer_lookups(false);

  create temp table tf_contact_person on commit drop as
  select l.label, coalesce(c.contact_id, nextval(pg_get_serial_sequence('canonical.contact', 'contact_id'))) as contact_id
  from (select distinct label from tf_contact_label) as l
  left join (select label, min(contact_id) as contact_id from tf_contact_claim group by label) as c using (label)
  order by l.label;
  create index on tf_contact_person (label);

  create temp table tf_contact_built on commit drop as
  with ordered as (
    select m.*, p.contact_id,
      row_number() over (partition by p.contact_id order by m.source_updated_at desc nulls last, m.staging_id desc) as recency
    from tf_contact_member m
    join tf_contact_label l using (node)
    join tf_contact_person p using (label)
  ),

  survived as (
    select
      contact_id,
      min(company_id) as company_id,
      count(*)::int as source_count,
      (array_agg(last_name order by recency) filter (where last_name is not null))[1] as last_name,
      (array_agg(first_name order by recency) filter (where first_name is not null))[1] as first_name,
      (array_agg(middle_name order by recency) filter (where middle_name is not null))[1] as middle_name,
      (array_agg(position order by recency) filter (where position is not null))[1] as position
    from ordered
    group by contact_id
  ),

  phone as (
    select contact_id, p as phone, min(recency) as recency, min(n) as position
    from ordered, unnest(phones) with ordinality as u(p, n)
    group by contact_id, p
  ),

  email as (
    select contact_id, e as email, min(recency) as recency, min(n) as position
    from ordered, unnest(emails) with ordinality as u(e, n)
    group by contact_id, e
  ),

  phone_list as (
    select contact_id, array_agg(phone order by recency, position, phone) as phones from phone group by contact_id
  ),

  email_list as (
    select contact_id, array_agg(email order by recency, position, email) as emails from email group by contact_id
  ),

  extension as (
    select contact_id, jsonb_object_agg(key, value order by recency desc) as phone_extensions
    from ordered, jsonb_each_text(phone_extensions)
    group by contact_id
  ),

  final as (
    select
      s.contact_id,
      s.company_id,
      s.last_name,
      s.first_name,
      s.middle_name,
      s.position,
      coalesce(pl.phones, '{}') as phones,
      coalesce(x.phone_extensions, '{}') as phone_extensions,
      coalesce(el.emails, '{}') as emails,
      s.source_count
    from survived s
    left join extension x using (contact_id)
    left join phone_list pl using (contact_id)
    left join email_list el using (contact_id)
  )

  select final.*, md5(row(final.*)::text)::uuid as row_hash from final;
  create index on tf_contact_built (contact_id);

  perform etl.prefer_lookups(true);
  insert into canonical.contact as c (
    contact_id, company_id, last_name, first_name, middle_name, position, phones,
    phone_extensions, emails, source_count, is_deleted, row_hash)
  select contact_id, company_id, last_name, first_name, middle_name, position, phones,
    phone_extensions, emails, source_count, false, row_hash
  from tf_contact_built b
  -- unchanged persons are skipped here: an upsert would lock (and so write) every row
  where not exists (
    select from canonical.contact c
    where c.contact_id = b.contact_id and c.row_hash = b.row_hash and not c.is_deleted)
  order by contact_id
  on conflict (contact_id) do update set
    company_id = excluded.company_id, last_name = excluded.last_name,
    first_name = excluded.first_name, middle_name = excluded.middle_name,
    position = excluded.position, phones = excluded.phones,
    phone_extensions = excluded.phone_extensions, emails = excluded.emails,
    source_count = excluded.source_count, is_deleted = false, row_hash = excluded.row_hash,
    updated_at = now()
  where c.row_hash is distinct from excluded.row_hash or c.is_deleted;
  perform etl.prefer_lookups(false);

  -- Ids a component absorbed: the person lives on under the older id.
  insert into etl.merge (entity, canonical_id, merged_id, rule, value)
  select 'contact', p.contact_id, c.contact_id, 'same_person', null
  from tf_contact_claim c
  join tf_contact_person p using (label)
  where c.contact_id <> p.contact_id
  on conflict do nothing;

  -- Persons in scope that no member holds any more.
  update canonical.contact c
  set is_deleted = true, source_count = 0, updated_at = now()
  from tf_contact_touched t
  where c.contact_id = t.contact_id and not c.is_deleted
    and not exists (select from tf_contact_built b where b.contact_id = c.contact_id);

  -- Lineage: records in scope that feed no person any more lose their link; the rest are
  -- upserted, so an unchanged link is not rewritten.
  create index on tf_contact_member (source, source_key);
  delete from canonical.contact_source cs
  using tf_contact_key k
  where cs.source = k.source and cs.entity = 'contact' and cs.source_key = k.source_key
    and not exists (select from tf_contact_member m where m.source = cs.source and m.source_key = cs.source_key);

  perform etl.prefer_lookups(true);
  insert into canonical.contact_source (contact_id, source, entity, source_key)
  select p.contact_id, m.source, 'contact', m.source_key
  from tf_contact_member m
  join tf_contact_label l using (node)
  join tf_contact_person p using (label)
  where not exists (
    select from canonical.contact_source cs
    where cs.source = m.source and cs.entity = 'contact' and cs.source_key = m.source_key and cs.contact_id = p.contact_id)
  on conflict (source, entity, source_key) do update set contact_id = excluded.contact_id
  where canonical.contact_source.contact_id is distinct from excluded.contact_id;
  perform etl.prefer_lookups(false);

  -- Each member beyond the first that landed joined its person through a shared value.
  insert into etl.merge (entity, canonical_id, source, source_key, rule, value)
  select distinct on (m.node) 'contact', p.contact_id, m.source, m.source_key, k.rule, k.value
  from (
    select m.*, l.label, row_number() over (partition by l.label order by m.staging_id) as arrival
    from tf_contact_member m join tf_contact_label l using (node)
  ) as m
  join tf_contact_person p using (label)
  join tf_contact_link k on k.node = m.node
  where m.arrival > 1
    and exists (
      select from tf_contact_link k2 join tf_contact_label l2 using (node)
      where k2.company_id = k.company_id and k2.rule = k.rule and k2.value = k.value
        and l2.label = m.label and k2.node <> m.node)
  order by m.node, k.rule, k.value
  on conflict do nothing;
end
$$;
