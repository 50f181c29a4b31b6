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

-- The tables a run joins its keys to: their statistics steer every plan of the run (and of the
-- phone dictionary step before it).
create or replace function etl.transform_tables() returns regclass[]
language sql stable as $$
  select array[
    'staging.record', 'staging.batch', 'etl.source_company', 'etl.source_contact', 'etl.source_order', 'canonical.company',
    'canonical.contact', 'canonical.company_source', 'canonical.contact_source', 'canonical.deal',
    'canonical.deal_item', 'etl.rejection', 'etl.phone_dictionary']::regclass[]
$$;

-- Analyzes the transform's tables: every one a run writes (`every`, after a big run rewrote them:
-- not staging's, which it reads), or those whose rows changed by more than autovacuum's own threshold (50 rows and 10 %) since their
-- last analyze. Autovacuum looks only once a minute: a base growing from empty under a live feed
-- would be planned for minutes as the few rows it had, with nested loops over whole tables
-- (a run of 300 contacts took 1.2 s instead of 0.1 s). A table autovacuum holds is skipped (with
-- the server's warning), and one this role does not own is left to autovacuum (analyze needs its
-- owner). Returns how many tables it analyzed or found held. Called inside a transaction that
-- then fails, the statistics go back but the counters that say they are fresh do not: b2b-etl
-- calls it in a transaction of its own beside each run (a feed's next run plans on what it
-- found), and the transform calls it only when run without only_batches (from SQL).
create or replace function etl.refresh_statistics(every boolean default false) returns integer
language plpgsql as $$
declare
  t regclass;
  analyzed integer := 0;
begin
  for t in
    select c.oid::regclass
    from pg_class c
    left join pg_stat_user_tables s on s.relid = c.oid
    where c.oid = any (etl.transform_tables())
      and pg_has_role(c.relowner, 'USAGE')
      and (case when every then c.relnamespace <> 'staging'::regnamespace
                else coalesce(s.n_mod_since_analyze, 0) > 50 + 0.1 * greatest(c.reltuples, 0) end)
    order by c.oid
  loop
    execute format(case when every then 'analyze %s' else 'analyze (skip_locked) %s' end, t);
    analyzed := analyzed + 1;
  end loop;
  return analyzed;
end
$$;
