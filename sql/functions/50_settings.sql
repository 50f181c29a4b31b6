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

-- Small incremental runs look up a few thousand keys in tables of hundreds of thousands of
-- rows. The planner prices a hash of the big table (one sequential read) below that many
-- index probes, but building the hash is CPU work it does not count: 0.3 to 0.5 s per
-- statement against a few milliseconds of probes. The transform and the phone dictionary
-- step mark a small run with etl.mark_small_run; the statements that join the scope to a
-- big table call etl.prefer_lookups(true) before and etl.prefer_lookups(false) after.
-- Full runs keep hashes.

-- Marks this transaction's run as small when it has fewer than 50 000 rows in scope (null:
-- a full run, never small); returns whether it is.
create or replace function etl.mark_small_run(scope_rows bigint) returns boolean
language sql as $$
  select set_config('etl.small_run', case when scope_rows < 50000 then 'on' else 'off' end, true) = 'on'
$$;

create or replace function etl.is_small_run() returns boolean
language sql stable as $$
  select coalesce(current_setting('etl.small_run', true), '') = 'on'
$$;

create or replace function etl.prefer_lookups(prefer boolean) returns void
language plpgsql as $$
declare
  lookups constant boolean := prefer and etl.is_small_run();
begin
  perform set_config('enable_hashjoin', case when lookups then 'off' else 'on' end, true);
  perform set_config('enable_mergejoin', case when lookups then 'off' else 'on' end, true);
end
$$;
