-- Settings read by the transform.

-- Start of the full-load window: etl.setting 'window_start', or January 1 of the previous year.
create or replace function etl.window_start() returns timestamptz
language sql stable as $$
  select coalesce(
    (select value::date from etl.setting where name = 'window_start' and nullif(value, '') is not null),
    (date_trunc('year', now()) - interval '1 year')::date
  )::timestamptz
$$;

-- One setting's value (null when the row is missing).
create or replace function etl.setting_value(setting_name text) returns text
language sql stable as $$
  select value from etl.setting where name = setting_name
$$;
