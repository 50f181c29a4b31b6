-- Contact details: e-mails and person names.

-- Lower-cased, trimmed e-mail, or null when it is not a plausible address.
create or replace function etl.clean_email(email text) returns text
language sql immutable parallel safe as $$
  select case when e ~ '^[a-z0-9._%+''-]+@[a-z0-9-]+(\.[a-z0-9-]+)*\.[a-z]{2,}$' then e end
  from (select lower(etl.strip_spaces(email)) as e) as normalized
$$;

-- "Фамилия Имя Отчество" in one string, split into its parts. Two words are last and
-- first name; words beyond the third stay in the middle name (e.g. "Оглы").
create or replace function etl.split_fio(fio text, out last_name text, out first_name text, out middle_name text)
language sql immutable parallel safe as $$
  select parts[1], parts[2], nullif(array_to_string(parts[3:], ' '), '')
  from (select regexp_split_to_array(etl.clean_text(fio), ' ') as parts) as split
$$;

-- E.164 phones of a raw list through the dictionary; unknown or invalid raw text goes to
-- invalid_phones. Extensions come back as a json object e164 -> extension.
create or replace function etl.map_phones(raw_phones text[], out phones text[], out invalid_phones text[], out phone_extensions jsonb)
language sql stable parallel safe as $$
  select
    coalesce(array_agg(distinct d.e164) filter (where d.e164 is not null), '{}'),
    coalesce(array_agg(distinct r.raw) filter (where d.e164 is null), '{}'),
    coalesce(jsonb_object_agg(d.e164, d.extension) filter (where d.extension is not null), '{}')
  from (select etl.clean_text(raw) as raw from unnest(raw_phones) as raw) as r
  left join etl.phone_dictionary d on d.raw = r.raw
  where r.raw is not null
$$;

-- Cleaned, valid, distinct e-mails of a raw list.
create or replace function etl.map_emails(raw_emails text[]) returns text[]
language sql immutable parallel safe as $$
  select coalesce(array_agg(distinct etl.clean_email(e)) filter (where etl.clean_email(e) is not null), '{}')
  from unnest(raw_emails) as e
$$;
