-- Contact details: e-mails and person names.

-- Lower-cased e-mail without spaces, or null when it is not a plausible address.
-- One expression, so the planner inlines it.
create or replace function etl.clean_email(email text) returns text
language sql immutable parallel safe as $$
  select case when lower(regexp_replace(email, '\s+', '', 'g')) ~ '^[a-z0-9._%+''-]+@[a-z0-9-]+(\.[a-z0-9-]+)*\.[a-z]{2,}$'
              then lower(regexp_replace(email, '\s+', '', 'g')) end
$$;

-- Part 1, 2 or 3 (last, first, middle name) of "Фамилия Имя Отчество" written in one
-- string. Words beyond the third stay in the middle name (e.g. "Оглы"). One expression,
-- so the planner inlines it.
create or replace function etl.fio_part(fio text, part int) returns text
language sql immutable parallel safe as $$
  select case
    when part < 3 then (regexp_split_to_array(etl.clean_text(fio), ' '))[part]
    else nullif(array_to_string((regexp_split_to_array(etl.clean_text(fio), ' '))[3:], ' '), '')
  end
$$;
