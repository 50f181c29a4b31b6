-- Clean and validate the current version of each company source record in scope
-- (tf_company_key), writing etl.source_company and the problems found (tf_problem).
-- Grain of etl.source_company: one row per (source, source_key), its latest version.

create or replace function etl.clean_companies() returns void
language plpgsql as $$
begin
  -- The current version of each record in scope (staging.current_version holds the rule).
  create temp table tf_company_current on commit drop as
  select r.source, r.source_key, r.staging_id, r.has_newer_unreadable
  from tf_company_key k
  join staging.current_version r on r.source = k.source and r.entity = 'company' and r.source_key = k.source_key;
  analyze tf_company_current;

  create temp table tf_company_clean on commit drop as
  with mapped as (
    -- The versions by id, as a condition rather than a join: a condition reaches every
    -- branch of the per-source union and its primary key; a join to the union does not
    -- (PostgreSQL builds no parameterized path into it) and would map every version.
    select v.*
    from staging.company_version v
    where v.staging_id = any (array(select staging_id from tf_company_current))
  ),

  cleaned as (
    select
      source,
      source_key,
      staging_id,
      is_unparseable,
      is_deleted,
      landing_issues,
      inn as inn_raw,
      etl.strip_spaces(inn) as inn,
      etl.inn_problem(inn) as inn_problem,
      etl.strip_spaces(kpp) as kpp,
      etl.strip_spaces(ogrn) as ogrn,
      etl.clean_text(name) as name,
      etl.clean_text(legal_address) as legal_address,
      phones as raw_phones,
      emails as raw_emails,
      etl.strip_spaces(bank_bik) as bank_bik,
      etl.strip_spaces(bank_account) as bank_account,
      etl.strip_spaces(bank_corr_account) as bank_corr_account,
      etl.clean_text(bank_name) as bank_name,
      source_created_at,
      source_updated_at
    from mapped
  ),

  final as (
    select
      cleaned.*,
      etl.legal_form_of(name) as legal_form,
      etl.kpp_problem(kpp) as kpp_problem,
      etl.ogrn_problem(ogrn) as ogrn_problem,
      etl.bik_problem(bank_bik) as bik_problem,
      etl.bank_account_problem(bank_bik, bank_account) as account_problem,
      etl.corr_account_problem(bank_bik, bank_corr_account) as corr_account_problem,
      coalesce(source_updated_at, source_created_at) < etl.window_start() as is_out_of_window
    from cleaned
  )

  select * from final;

  perform etl.map_contact_points('tf_company_clean');

  insert into tf_problem (source, entity, source_key, staging_id, reason, severity, detail, value)
  select source, 'company', source_key, c.staging_id, problem.*
  from tf_company_clean c
  left join tf_point_map m using (source, source_key)
  join tf_company_current cur using (source, source_key)
  cross join lateral (
    select * from etl.landing_problems(c.landing_issues, c.is_unparseable, cur.has_newer_unreadable)
    union all
    select c.inn_problem, 'error', case c.inn_problem
        when 'inn_missing' then 'no INN'
        when 'inn_malformed' then 'an INN has 10 digits (organisation) or 12 digits (individual)'
        else 'the INN check digits do not match (weights 2,4,10,3,5,9,4,6,8 for 10 digits; 7,2,4,10,3,5,9,4,6,8 and 3,7,2,4,10,3,5,9,4,6,8 for 12)'
      end, c.inn_raw
      where not c.is_unparseable and not c.is_deleted and c.inn_problem is not null
    union all
    select 'out_of_window', 'error',
      format('last updated %s, before the load window starting %s', coalesce(c.source_updated_at, c.source_created_at)::date, etl.window_start()::date),
      coalesce(c.source_updated_at, c.source_created_at)::text
      where not c.is_unparseable and not c.is_deleted and c.is_out_of_window
    union all
    -- the registry's answer for a valid INN: only ACTIVE companies go on
    select case when l.status is null then 'registry_not_found' else 'registry_inactive' end, 'error',
      case when l.status is null
        then format('the registry (%s) has no company with this INN (asked %s)', l.provider, l.fetched_at::date)
        else format('the registry (%s) says %s%s (asked %s)', l.provider, l.status,
          coalesce(', liquidated ' || l.liquidation_date, ''), l.fetched_at::date)
      end,
      coalesce(l.status, c.inn)
      from etl.registry_lookup l
      where l.inn = c.inn and c.inn_problem is null and not c.is_unparseable and not c.is_deleted
        and l.status is distinct from 'ACTIVE'
    union all
    select c.kpp_problem, 'warning', 'KPP must be 4 digits, 2 digits or capital letters, 3 digits; field left empty', c.kpp
      where not c.is_deleted and c.kpp_problem is not null
    union all
    select c.ogrn_problem, 'warning', 'OGRN must be 13 digits (check mod 11) or OGRNIP 15 digits (check mod 13); field left empty', c.ogrn
      where not c.is_deleted and c.ogrn_problem is not null
    union all
    select c.bik_problem, 'warning', 'a BIK has 9 digits; bank details left empty', c.bank_bik
      where not c.is_deleted and c.bik_problem is not null
    union all
    select c.account_problem, 'warning', 'settlement account fails the Bank of Russia control key against the BIK; field left empty', c.bank_account
      where not c.is_deleted and c.account_problem is not null
    union all
    select c.corr_account_problem, 'warning', 'correspondent account fails the Bank of Russia control key against the BIK; field left empty', c.bank_corr_account
      where not c.is_deleted and c.corr_account_problem is not null
    union all
    select 'phone_invalid', 'warning', 'not a valid phone number; kept out of phones', array_to_string(m.invalid_phones, '; ')
      where not c.is_deleted and cardinality(m.invalid_phones) > 0
    union all
    select 'email_invalid', 'warning', 'not a valid e-mail address; kept out of emails', array_to_string(m.invalid_emails, '; ')
      where not c.is_deleted and cardinality(m.invalid_emails) > 0
  ) as problem(reason, severity, detail, value);
  analyze tf_problem;

  -- What the records in scope were before: their previous INNs' companies are recomputed
  -- too, and only records whose INN or verdict changes move their contacts.
  create temp table tf_company_before on commit drop as
  select s.source, s.source_key, s.inn, s.is_accepted
  from etl.source_company s join tf_company_key k using (source, source_key);
  insert into tf_inn (inn)
  select inn from tf_company_before where inn is not null
  on conflict do nothing;

  insert into etl.source_company as s (
    source, source_key, staging_id, inn, kpp, ogrn, name, legal_form, legal_address,
    phones, invalid_phones, emails, bank_bik, bank_account, bank_corr_account, bank_name,
    source_created_at, source_updated_at, is_deleted, is_accepted)
  select
    c.source, c.source_key, c.staging_id, c.inn,
    case when c.kpp_problem is null then c.kpp end,
    case when c.ogrn_problem is null then c.ogrn end,
    c.name, c.legal_form, c.legal_address,
    coalesce(m.phones, '{}'), coalesce(m.invalid_phones, '{}'), coalesce(m.emails, '{}'),
    case when c.bik_problem is null then c.bank_bik end,
    case when c.account_problem is null and c.bik_problem is null then c.bank_account end,
    case when c.corr_account_problem is null and c.bik_problem is null then c.bank_corr_account end,
    c.bank_name, c.source_created_at, c.source_updated_at, c.is_deleted,
    not c.is_deleted and not exists (
      select from tf_problem p
      where p.source = c.source and p.entity = 'company' and p.source_key = c.source_key and p.severity = 'error')
  from tf_company_clean c
  left join tf_point_map m using (source, source_key)
  on conflict (source, source_key) do update set
    staging_id = excluded.staging_id, inn = excluded.inn, kpp = excluded.kpp, ogrn = excluded.ogrn,
    name = excluded.name, legal_form = excluded.legal_form, legal_address = excluded.legal_address,
    phones = excluded.phones, invalid_phones = excluded.invalid_phones, emails = excluded.emails,
    bank_bik = excluded.bank_bik, bank_account = excluded.bank_account,
    bank_corr_account = excluded.bank_corr_account, bank_name = excluded.bank_name,
    source_created_at = excluded.source_created_at, source_updated_at = excluded.source_updated_at,
    is_deleted = excluded.is_deleted, is_accepted = excluded.is_accepted
  where (s.staging_id, s.inn, s.kpp, s.ogrn, s.name, s.legal_address, s.phones, s.invalid_phones, s.emails,
         s.bank_bik, s.bank_account, s.bank_corr_account, s.bank_name, s.is_deleted, s.is_accepted)
        is distinct from
        (excluded.staging_id, excluded.inn, excluded.kpp, excluded.ogrn, excluded.name, excluded.legal_address,
         excluded.phones, excluded.invalid_phones, excluded.emails, excluded.bank_bik, excluded.bank_account,
         excluded.bank_corr_account, excluded.bank_name, excluded.is_deleted, excluded.is_accepted);

  insert into tf_inn (inn)
  select inn from tf_company_clean where inn_problem is null
  on conflict do nothing;

  -- Records whose contacts must be re-attached: new, INN changed, verdict changed, or
  -- rejected (the contacts' rejection names the company's reasons, which may have changed).
  create temp table tf_company_moved on commit drop as
  select s.source, s.source_key
  from tf_company_clean c
  join etl.source_company s using (source, source_key)
  left join tf_company_before b using (source, source_key)
  where b.source_key is null or b.inn is distinct from s.inn or b.is_accepted <> s.is_accepted or not s.is_accepted;
end
$$;
