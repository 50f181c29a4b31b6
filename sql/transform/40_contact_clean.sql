-- Clean and validate the current version of each contact source record in scope
-- (tf_contact_key) and attach it to its canonical company through the source company
-- it names. Grain of etl.source_contact: one row per (source, source_key).

drop function if exists etl.clean_contacts();
create or replace function etl.clean_contacts(is_full boolean) returns void
language plpgsql as $$
begin
  -- Contacts whose source company changed INN or verdict may have changed company or
  -- verdict too (a full run has every contact in scope already).
  if not is_full then
    insert into tf_contact_key (source, source_key)
    select s.source, s.source_key
    from tf_company_moved k
    join etl.source_contact s on s.company_source = k.source and s.company_key = k.source_key
    on conflict do nothing;
  end if;
  analyze tf_contact_key;

  -- The current version, chosen as for companies (etl.clean_companies).
  create temp table tf_contact_current on commit drop as
  select r.source, r.source_key, r.staging_id, r.has_newer_unreadable
  from tf_contact_key k
  join staging.current_version r on r.source = k.source and r.entity = 'contact' and r.source_key = k.source_key;
  analyze tf_contact_current;

  create temp table tf_contact_clean on commit drop as
  with mapped as (
    -- The versions by id, as a condition rather than a join: a condition reaches every
    -- branch of the per-source union and its primary key; a join to the union does not
    -- (PostgreSQL builds no parameterized path into it) and would map every version.
    select v.*
    from staging.contact_version v
    where v.staging_id = any (array(select staging_id from tf_contact_current))
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
      etl.clean_text(m.last_name) as last_name,
      etl.clean_text(m.first_name) as first_name,
      etl.clean_text(m.middle_name) as middle_name,
      etl.clean_text(m.position) as position,
      m.emails as raw_emails,
      m.phones as raw_phones,
      m.source_updated_at
    from mapped m
  ),

  final as (
    select
      c.*,
      sc.source_key is not null as has_company,
      coalesce(sc.is_accepted, false) as is_company_accepted,
      cc.company_id
    from cleaned c
    left join etl.source_company sc on sc.source = c.company_source and sc.source_key = c.company_key
    left join canonical.company cc on cc.inn = sc.inn and sc.is_accepted
  )

  select * from final;

  perform etl.map_contact_points('tf_contact_clean');

  insert into tf_problem (source, entity, source_key, staging_id, reason, severity, detail, value)
  select source, 'contact', source_key, c.staging_id, problem.*
  from tf_contact_clean c
  left join tf_point_map m using (source, source_key)
  join tf_contact_current cur using (source, source_key)
  cross join lateral (
    select * from etl.landing_problems(c.landing_issues, c.is_unparseable, cur.has_newer_unreadable)
    union all
    select * from etl.company_problems(c.company_source, c.company_key, c.has_company, c.is_company_accepted)
      where not c.is_unparseable and not c.is_deleted
    union all
    -- a record with nothing of a person (a file of another kind landed as contacts, say) is no contact
    select 'contact_empty', 'error', 'no name, phone or e-mail: nothing of a person', null::text
      where not c.is_unparseable and not c.is_deleted and c.last_name is null and c.first_name is null and c.middle_name is null
        and jsonb_array_length(coalesce(c.raw_phones, '[]')) = 0 and jsonb_array_length(coalesce(c.raw_emails, '[]')) = 0
    union all
    select 'phone_invalid', 'warning', 'not a valid phone number; kept out of phones', array_to_string(m.invalid_phones, '; ')
      where not c.is_deleted and cardinality(m.invalid_phones) > 0
    union all
    select 'email_invalid', 'warning', 'not a valid e-mail address; kept out of emails', array_to_string(m.invalid_emails, '; ')
      where not c.is_deleted and cardinality(m.invalid_emails) > 0
  ) as problem(reason, severity, detail, value);
  analyze tf_problem;

  -- The companies these contacts belonged to before: their contacts are recomputed too
  -- (a small run recomputes persons instead, see etl.build_contacts).
  if not etl.is_small_run() then
    insert into tf_contact_company (company_id)
    select s.company_id from etl.source_contact s join tf_contact_key k using (source, source_key)
    where s.company_id is not null
    on conflict do nothing;
  end if;

  insert into etl.source_contact as s (
    source, source_key, staging_id, company_source, company_key, company_id, last_name, first_name,
    middle_name, position, phones, phone_extensions, invalid_phones, emails, source_updated_at,
    is_deleted, is_accepted)
  select
    c.source, c.source_key, c.staging_id, c.company_source, c.company_key, c.company_id,
    c.last_name, c.first_name, c.middle_name, c.position, coalesce(m.phones, '{}'),
    coalesce(m.phone_extensions, '{}'), coalesce(m.invalid_phones, '{}'), coalesce(m.emails, '{}'),
    c.source_updated_at, c.is_deleted,
    not c.is_deleted and c.company_id is not null and not exists (
      select from tf_problem p
      where p.source = c.source and p.entity = 'contact' and p.source_key = c.source_key and p.severity = 'error')
  from tf_contact_clean c
  left join tf_point_map m using (source, source_key)
  on conflict (source, source_key) do update set
    staging_id = excluded.staging_id, company_source = excluded.company_source,
    company_key = excluded.company_key, company_id = excluded.company_id,
    last_name = excluded.last_name, first_name = excluded.first_name,
    middle_name = excluded.middle_name, position = excluded.position, phones = excluded.phones,
    phone_extensions = excluded.phone_extensions, invalid_phones = excluded.invalid_phones,
    emails = excluded.emails, source_updated_at = excluded.source_updated_at,
    is_deleted = excluded.is_deleted, is_accepted = excluded.is_accepted
  where (s.staging_id, s.company_id, s.company_key, s.last_name, s.first_name, s.middle_name, s.position,
         s.phones, s.phone_extensions, s.invalid_phones, s.emails, s.is_deleted, s.is_accepted)
        is distinct from
        (excluded.staging_id, excluded.company_id, excluded.company_key, excluded.last_name, excluded.first_name,
         excluded.middle_name, excluded.position, excluded.phones, excluded.phone_extensions,
         excluded.invalid_phones, excluded.emails, excluded.is_deleted, excluded.is_accepted);

  if not etl.is_small_run() then
    insert into tf_contact_company (company_id)
    select company_id from tf_contact_clean where company_id is not null
    on conflict do nothing;
  end if;
end
$$;
