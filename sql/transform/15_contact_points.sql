-- Phones and e-mails of the records being cleaned, mapped set-wise (one join with the
-- phone dictionary instead of a lookup per record). Input: a table of records being
-- cleaned with source, source_key and the raw_phones / raw_emails JSON arrays.
-- Output tf_point_map: one row per record with E.164 phones, extensions, e-mails and what
-- was invalid; phone texts the dictionary does not know are added to tf_unknown_phone.
drop function if exists etl.map_contact_points();
create or replace function etl.map_contact_points(records regclass) returns void
language plpgsql as $$
begin
  truncate tf_point;
  -- one row per phone or e-mail, cleaned once, with its position in the record
  execute format($sql$
    insert into tf_point (source, source_key, kind, position, raw, email)
    select source, source_key, 'phone', n, etl.clean_text(raw), null
    from %1$s, jsonb_array_elements_text(raw_phones) with ordinality as u(raw, n)
    union all
    select source, source_key, 'email', n, etl.clean_text(raw), etl.clean_email(raw)
    from %1$s, jsonb_array_elements_text(raw_emails) with ordinality as u(raw, n)$sql$, records);
  analyze tf_point;

  if to_regclass('pg_temp.tf_point_map') is not null then
    drop table tf_point_map;
  end if;
  -- the dictionary lookup alone (see etl.prefer_lookups), the grouping below on its own
  if to_regclass('pg_temp.tf_point_cleaned') is not null then
    drop table tf_point_cleaned;
  end if;
  perform etl.prefer_lookups(true);
  create temp table tf_point_cleaned on commit drop as
  select
    p.source,
    p.source_key,
    p.kind,
    p.position,
    p.raw,
    d.e164,
    d.extension,
    p.email,
    p.kind = 'phone' and d.raw is null as is_unknown_phone
  from tf_point as p
  left join etl.phone_dictionary d on p.kind = 'phone' and d.raw = p.raw
  where p.raw is not null;
  perform etl.prefer_lookups(false);
  analyze tf_point_cleaned;
  -- phone texts the dictionary step has not parsed (the transform reports them)
  insert into tf_unknown_phone select raw from tf_point_cleaned where is_unknown_phone on conflict do nothing;

  create temp table tf_point_map on commit drop as
  with valid_phone as (
    select source, source_key, e164, min(position) as position, max(extension) as extension
    from tf_point_cleaned where kind = 'phone' and e164 is not null
    group by source, source_key, e164
  ),

  valid_email as (
    select source, source_key, email, min(position) as position
    from tf_point_cleaned where kind = 'email' and email is not null
    group by source, source_key, email
  ),

  phones as (
    select source, source_key,
      array_agg(e164 order by position) as phones,
      coalesce(jsonb_object_agg(e164, extension) filter (where extension is not null), '{}') as phone_extensions
    from valid_phone group by source, source_key
  ),

  emails as (
    select source, source_key, array_agg(email order by position) as emails
    from valid_email group by source, source_key
  ),

  invalid as (
    select source, source_key,
      coalesce(array_agg(raw order by position) filter (where kind = 'phone'), '{}') as invalid_phones,
      coalesce(array_agg(raw order by position) filter (where kind = 'email'), '{}') as invalid_emails
    from tf_point_cleaned
    where (kind = 'phone' and e164 is null) or (kind = 'email' and email is null)
    group by source, source_key
  ),

  final as (
    select
      k.source,
      k.source_key,
      coalesce(p.phones, '{}') as phones,
      coalesce(p.phone_extensions, '{}') as phone_extensions,
      coalesce(e.emails, '{}') as emails,
      coalesce(i.invalid_phones, '{}') as invalid_phones,
      coalesce(i.invalid_emails, '{}') as invalid_emails
    from (select distinct source, source_key from tf_point) as k
    left join phones p using (source, source_key)
    left join emails e using (source, source_key)
    left join invalid i using (source, source_key)
  )

  select * from final;
  create unique index on tf_point_map (source, source_key);
  analyze tf_point_map;
end
$$;
