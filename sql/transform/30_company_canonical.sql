-- Dedupe: one canonical company per INN (tf_inn lists the INNs to recompute).
-- Survivorship: the registry wins for legal name, form, KPP, OGRN and address; otherwise
-- the most recently updated source value that is not empty. Phones and e-mails are the
-- union of all accepted sources, most recent first.

create or replace function etl.build_companies() returns void
language plpgsql as $$
begin
  analyze tf_inn;

  create temp table tf_company_member on commit drop as
  select s.*
  from tf_inn i
  join etl.source_company s on s.inn = i.inn
  where s.is_accepted;
  analyze tf_company_member;

  create temp table tf_company_built on commit drop as
  with ordered as (
    select m.*, row_number() over (partition by inn order by source_updated_at desc nulls last, staging_id desc) as recency
    from tf_company_member m
  ),

  survived as (
    select
      inn,
      count(*)::int as source_count,
      (array_agg(kpp order by recency) filter (where kpp is not null))[1] as kpp,
      (array_agg(ogrn order by recency) filter (where ogrn is not null))[1] as ogrn,
      (array_agg(name order by recency) filter (where name is not null))[1] as name,
      (array_agg(legal_form order by recency) filter (where legal_form is not null))[1] as legal_form,
      (array_agg(legal_address order by recency) filter (where legal_address is not null))[1] as legal_address,
      -- bank details travel together: take all four from the most recent source that has an account
      (array_agg(array[bank_bik, bank_account, bank_corr_account, bank_name] order by recency)
         filter (where bank_account is not null or bank_bik is not null))[1:1] as bank
    from ordered
    group by inn
  ),

  phone as (
    select inn, p as phone, min(recency) as recency, min(n) as position
    from ordered, unnest(phones) with ordinality as u(p, n)
    group by inn, p
  ),

  email as (
    select inn, e as email, min(recency) as recency, min(n) as position
    from ordered, unnest(emails) with ordinality as u(e, n)
    group by inn, e
  ),

  phone_list as (
    select inn, array_agg(phone order by recency, position, phone) as phones from phone group by inn
  ),

  email_list as (
    select inn, array_agg(email order by recency, position, email) as emails from email group by inn
  ),

  final as (
    select
      s.inn,
      coalesce(r.kpp, s.kpp) as kpp,
      coalesce(r.ogrn, s.ogrn) as ogrn,
      coalesce(r.short_name, r.full_name, s.name) as name,
      coalesce(r.legal_form, s.legal_form) as legal_form,
      coalesce(r.address, s.legal_address) as legal_address,
      coalesce(pl.phones, '{}') as phones,
      coalesce(el.emails, '{}') as emails,
      s.bank[1][1] as bank_bik,
      s.bank[1][2] as bank_account,
      s.bank[1][3] as bank_corr_account,
      s.bank[1][4] as bank_name,
      s.source_count,
      r.status as registry_status,
      -- only a company the registry says is ACTIVE goes on to the CRM; an unchecked one
      -- waits for its check unless the policy lets it pass (inactive ones are rejected)
      coalesce(r.status = 'ACTIVE', r.inn is null and etl.setting_value('registry_unchecked_policy') = 'pass') as is_ready
    from survived s
    left join phone_list pl using (inn)
    left join email_list el using (inn)
    left join etl.registry_lookup r on r.inn = s.inn
  )

  select final.*, md5(row(final.*)::text)::uuid as row_hash from final;

  insert into canonical.company as c (
    inn, kpp, ogrn, name, legal_form, legal_address, phones, emails,
    bank_bik, bank_account, bank_corr_account, bank_name, source_count, is_deleted, row_hash,
    registry_status, registry_checked_at, is_ready)
  select b.inn, b.kpp, b.ogrn, b.name, b.legal_form, b.legal_address, b.phones, b.emails,
    b.bank_bik, b.bank_account, b.bank_corr_account, b.bank_name, b.source_count, false, b.row_hash,
    b.registry_status, r.fetched_at, b.is_ready
  from tf_company_built b
  left join etl.registry_lookup r on r.inn = b.inn
  order by b.inn
  on conflict (inn) do update set
    kpp = excluded.kpp, ogrn = excluded.ogrn, name = excluded.name, legal_form = excluded.legal_form,
    legal_address = excluded.legal_address, phones = excluded.phones, emails = excluded.emails,
    bank_bik = excluded.bank_bik, bank_account = excluded.bank_account,
    bank_corr_account = excluded.bank_corr_account, bank_name = excluded.bank_name,
    source_count = excluded.source_count, is_deleted = false, row_hash = excluded.row_hash,
    registry_status = excluded.registry_status, registry_checked_at = excluded.registry_checked_at,
    is_ready = excluded.is_ready, updated_at = now()
  where c.row_hash is distinct from excluded.row_hash or c.is_deleted
    or c.registry_checked_at is distinct from excluded.registry_checked_at;

  -- A company none of whose sources is accepted any more is kept, marked deleted.
  update canonical.company c
  set is_deleted = true, source_count = 0, is_ready = false, updated_at = now()
  from tf_inn i
  where c.inn = i.inn and not c.is_deleted
    and not exists (select from tf_company_built b where b.inn = c.inn);

  -- Lineage for every source record in scope, and for every member of a recomputed INN:
  -- records that feed no company any more lose their link; unchanged links stay untouched.
  create index on tf_company_member (source, source_key);
  delete from canonical.company_source cs
  using tf_company_key k
  where cs.source = k.source and cs.entity = 'company' and cs.source_key = k.source_key
    and not exists (select from tf_company_member m where m.source = cs.source and m.source_key = cs.source_key);

  insert into canonical.company_source (company_id, source, entity, source_key)
  select c.company_id, m.source, 'company', m.source_key
  from tf_company_member m
  join canonical.company c on c.inn = m.inn
  on conflict (source, entity, source_key) do update set company_id = excluded.company_id
  where canonical.company_source.company_id is distinct from excluded.company_id;

  -- Every source record beyond the first that landed joins its company by the same INN.
  insert into etl.merge (entity, canonical_id, source, source_key, rule, value)
  select 'company', c.company_id, m.source, m.source_key, 'same_inn', m.inn
  from (
    select m.*, row_number() over (partition by inn order by staging_id) as arrival
    from tf_company_member m
  ) as m
  join canonical.company c on c.inn = m.inn
  where m.arrival > 1
  on conflict do nothing;
end
$$;
