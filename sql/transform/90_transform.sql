-- call etl.transform();              -- what landed since the last run
-- call etl.transform(full => true);  -- every source record again, from all of staging
-- Either call returns the run's id (run_id), whose row in etl.run holds what it did.
-- only_batches limits a run to these batches (`b2b-etl transform` passes the batches whose
-- phones it has just parsed); batches landed meanwhile stay pending for the next run.
-- Without it, pending batches holding phone texts that etl.phone_dictionary does not know
-- yet stay pending, their versions unseen, until `b2b-etl transform` has parsed them: taken
-- now, valid phones would be rejected as phone_invalid.
-- Both reach the same canonical state and keep canonical ids. One transaction: a run
-- that fails leaves canonical as it was. Runs one at a time (advisory lock).
drop procedure if exists etl.transform(boolean);  -- the signature before only_batches
drop procedure if exists etl.transform(boolean, bigint[]);  -- the signature before run_id
create or replace procedure etl.transform(full boolean default false, only_batches bigint[] default null, inout run_id bigint default null)
language plpgsql as $$
declare
  is_full constant boolean := transform.full;
  this_run bigint;
  held_batches integer;
  run_stats jsonb;
  steps jsonb := '{}';        -- seconds per step, kept in etl.run.stats
  step_started timestamptz;
  registry_queued integer;
  is_big boolean;             -- rewrote much: statistics are stale (b2b-etl transform also vacuums)
  since bigint;               -- every row of the run's batches has a larger staging_id
  tables_analyzed integer;    -- stale statistics refreshed before the run
begin
  perform pg_advisory_xact_lock(hashtext('etl.transform'));
  -- Sorts and hashes over a whole load spill to disk at the server's default work_mem.
  perform set_config('work_mem', coalesce((select value from etl.setting where name = 'transform_work_mem'), '256MB'), true);
  -- Compiling expressions costs more than it saves for the small steps of an incremental run.
  perform set_config('jit', 'off', true);
  -- An incremental run looks up a few thousand keys in tables of millions: index lookups
  -- are what it needs, and the default page cost (spinning disks) talks the planner out of them.
  perform set_config('random_page_cost', '1.1', true);
  insert into etl.run as r (kind) values (case when is_full then 'full' else 'incremental' end) returning r.run_id into this_run;

  -- Batches whose phones wait for the dictionary are held back (staging.held_batch: their
  -- versions are not current yet), kept without rewriting rows that stay.
  create temp table tf_held_batch (batch_id bigint primary key) on commit drop;
  if only_batches is null then
    insert into tf_held_batch
    select distinct p.batch_id
    from staging.raw_phone p
    where p.staging_id > (select coalesce(min(first_staging_id), 0) from staging.batch where transformed_at is null)
      and p.batch_id in (select batch_id from staging.batch where transformed_at is null)
      and not exists (select from etl.phone_dictionary d where d.raw = p.raw);
  end if;
  delete from staging.held_batch h where not exists (select from tf_held_batch t where t.batch_id = h.batch_id);
  insert into staging.held_batch (batch_id) select batch_id from tf_held_batch on conflict do nothing;
  held_batches := (select count(*) from tf_held_batch);

  create temp table tf_batch on commit drop as
  select batch_id, first_staging_id from staging.batch
  where (is_full or transformed_at is null)
    and (only_batches is null or batch_id = any (only_batches))
    and batch_id not in (select batch_id from tf_held_batch);
  -- A big load lands faster than autovacuum analyzes; plans need the real row counts.
  if (select coalesce(sum(b.rows_landed), 0) from staging.batch b join tf_batch using (batch_id)) > 50000 then
    analyze staging.record;
  end if;
  -- Tables that grew or changed much since their last analyze are analyzed now, not a minute
  -- later; b2b-etl (the caller that passes only_batches) does it beside the run.
  tables_analyzed := case when only_batches is null then etl.refresh_statistics() else 0 end;
  create temp table tf_company_key (source text, source_key text, primary key (source, source_key)) on commit drop;
  create temp table tf_contact_key (source text, source_key text, primary key (source, source_key)) on commit drop;
  create temp table tf_order_key (source text, source_key text, primary key (source, source_key)) on commit drop;
  create temp table tf_inn (inn text primary key) on commit drop;
  create temp table tf_contact_company (company_id bigint primary key) on commit drop;
  create temp table tf_unknown_phone (raw text primary key) on commit drop;
  create temp table tf_point (source text, source_key text, kind text, position bigint, raw text, email text) on commit drop;
  create temp table tf_problem (
    source text, entity text, source_key text, staging_id bigint,
    reason text, severity text, detail text, value text) on commit drop;
  create index on tf_problem (source, source_key, entity);

  if is_full then
    insert into tf_company_key
    select distinct source, source_key from staging.record where entity = 'company'
    union select source, source_key from etl.source_company;
    insert into tf_contact_key
    select distinct source, source_key from staging.record where entity = 'contact'
    union select source, source_key from etl.source_contact;
    insert into tf_order_key
    select distinct source, source_key from staging.record where entity = 'order'
    union select source, source_key from etl.source_order;
    insert into tf_inn select inn from canonical.company on conflict do nothing;
    insert into tf_contact_company select distinct company_id from canonical.contact on conflict do nothing;
  else
    analyze tf_batch;
    -- the batches' rows through the primary key: all of them lie above the lowest bound
    since := (select min(first_staging_id) from tf_batch);
    insert into tf_company_key
    select distinct r.source, r.source_key
    from staging.record r
    where r.staging_id > since and r.batch_id in (select batch_id from tf_batch) and r.entity = 'company';
    insert into tf_contact_key
    select distinct r.source, r.source_key
    from staging.record r
    where r.staging_id > since and r.batch_id in (select batch_id from tf_batch) and r.entity = 'contact';
    insert into tf_order_key
    select distinct r.source, r.source_key
    from staging.record r
    where r.staging_id > since and r.batch_id in (select batch_id from tf_batch) and r.entity = 'order';
  end if;
  -- Companies whose registry answer changed since the last run are recomputed too. The
  -- rows are taken and deleted in one statement, so an answer stored meanwhile waits for
  -- the next run instead of being lost.
  with taken as (delete from etl.registry_changed returning inn)
  insert into tf_company_key
  select s.source, s.source_key from taken join etl.source_company s on s.inn = taken.inn
  on conflict do nothing;
  analyze tf_company_key;
  -- A small run: the statements that join its keys to big tables use index lookups.
  perform etl.mark_small_run(case when not is_full then (select count(*) from tf_company_key)
    + (select coalesce(sum(b.rows_landed), 0) from staging.batch b join tf_batch using (batch_id)) end);

  step_started := clock_timestamp();
  perform etl.clean_companies();
  steps := steps || jsonb_build_object('clean_companies', round(extract(epoch from clock_timestamp() - step_started)::numeric, 2));
  step_started := clock_timestamp();
  perform etl.sync_rejections('company');
  steps := steps || jsonb_build_object('company_rejections', round(extract(epoch from clock_timestamp() - step_started)::numeric, 2));
  step_started := clock_timestamp();
  perform etl.build_companies();
  steps := steps || jsonb_build_object('build_companies', round(extract(epoch from clock_timestamp() - step_started)::numeric, 2));
  -- Every company built in this run without a fresh registry answer gets its check queued.
  step_started := clock_timestamp();
  registry_queued := etl.queue_registry_checks(array(select inn from tf_company_built));
  steps := steps || jsonb_build_object('queue_registry_checks', round(extract(epoch from clock_timestamp() - step_started)::numeric, 2));
  step_started := clock_timestamp();
  perform etl.clean_contacts(is_full);
  steps := steps || jsonb_build_object('clean_contacts', round(extract(epoch from clock_timestamp() - step_started)::numeric, 2));
  step_started := clock_timestamp();
  perform etl.sync_rejections('contact');
  steps := steps || jsonb_build_object('contact_rejections', round(extract(epoch from clock_timestamp() - step_started)::numeric, 2));
  step_started := clock_timestamp();
  perform etl.build_contacts();
  steps := steps || jsonb_build_object('build_contacts', round(extract(epoch from clock_timestamp() - step_started)::numeric, 2));
  step_started := clock_timestamp();
  perform etl.clean_orders(is_full);
  steps := steps || jsonb_build_object('clean_orders', round(extract(epoch from clock_timestamp() - step_started)::numeric, 2));
  step_started := clock_timestamp();
  perform etl.sync_rejections('order');
  steps := steps || jsonb_build_object('order_rejections', round(extract(epoch from clock_timestamp() - step_started)::numeric, 2));
  step_started := clock_timestamp();
  perform etl.build_deals();
  steps := steps || jsonb_build_object('build_deals', round(extract(epoch from clock_timestamp() - step_started)::numeric, 2));

  -- After a big run the tables' statistics are stale; the next small run needs them right.
  is_big := is_full or (select count(*) from tf_contact_key) + (select count(*) from tf_company_key) + (select count(*) from tf_order_key) > 50000;
  if is_big then
    perform etl.refresh_statistics(every => true);
  end if;

  update staging.batch b set transformed_at = now()
  from tf_batch t where t.batch_id = b.batch_id and b.transformed_at is null;

  select jsonb_build_object(
    'batches', (select count(*) from tf_batch),
    'company_records', (select count(*) from tf_company_key),
    'contact_records', (select count(*) from tf_contact_key),
    'order_records', (select count(*) from tf_order_key),
    'companies_recomputed', (select count(*) from tf_inn),
    'companies_written', (select count(*) from tf_company_built),
    'contacts_written', (select count(*) from tf_contact_built),
    'deals_written', (select count(*) from tf_deal_built),
    'problems', (select count(*) from tf_problem),
    'registry_checks_queued', registry_queued,
    'step_seconds', steps,
    'phones_not_in_dictionary', (select count(*) from tf_unknown_phone),
    'batches_held_for_phones', held_batches,
    'big_run', is_big,
    'tables_analyzed', tables_analyzed
  ) into run_stats;
  update etl.run r set finished_at = clock_timestamp(), stats = run_stats where r.run_id = this_run;
  run_id := this_run;
  if held_batches > 0 then
    raise notice 'transform: % batches wait: their phone texts are not in etl.phone_dictionary yet; `b2b-etl transform` parses them and takes them',
      held_batches;
  end if;
  if (run_stats ->> 'phones_not_in_dictionary')::int > 0 then
    raise notice 'transform: % phone texts are not in etl.phone_dictionary and were treated as invalid; `b2b-etl transform` parses them first',
      run_stats ->> 'phones_not_in_dictionary';
  end if;
end
$$;
