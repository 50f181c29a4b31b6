-- Contact details: e-mails and person names.

-- Lower-cased e-mail without spaces, or null when it is not a plausible address.
-- One expression, so the planner inlines it.
create or replace function etl.clean_email(email text) returns text
language sql immutable parallel safe as $$
  select case when lower(regexp_replace(email, '\s+', '', 'g')) ~ '^[a-z0-9._%+''-]+@[a-z0-9-]+(\.[a-z0-9-]+)*\.[a-z]{2,}$'
              then lower(regexp_replace(email, '\s+', '', 'g')) end
$$;

-- "Фамилия Имя Отчество" in one string, split into its parts. Two words are last and
-- first name; words beyond the third stay in the middle name (e.g. "Оглы").
create or replace function etl.split_fio(fio text, out last_name text, out first_name text, out middle_name text)
language sql immutable parallel safe as $$
  select parts[1], parts[2], nullif(array_to_string(parts[3:], ' '), '')
  from (select regexp_split_to_array(etl.clean_text(fio), ' ') as parts) as split
$$;

