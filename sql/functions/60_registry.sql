-- Registry (EGRUL) helpers shared by the workers and the transform.

-- The next request slot for a provider, shared by every worker process: slots are 1/rps
-- apart; the caller waits the returned seconds, then sends. The row lock serialises takers.
create or replace function etl.registry_slot(provider text, rps double precision) returns double precision
language plpgsql as $$
declare
  wait_seconds double precision;
begin
  insert into etl.registry_pacing (provider) values (registry_slot.provider) on conflict do nothing;
  update etl.registry_pacing p
  set next_slot = greatest(p.next_slot, clock_timestamp()) + make_interval(secs => 1.0 / rps)
  where p.provider = registry_slot.provider
  returning extract(epoch from (p.next_slot - make_interval(secs => 1.0 / rps)) - clock_timestamp())
  into wait_seconds;
  return greatest(wait_seconds, 0);
end
$$;

-- How long an answer with this status stays fresh (etl.registry_ttl; '*' for the rest).
create or replace function etl.registry_ttl_for(status text) returns interval
language sql stable as $$
  select coalesce(
    (select ttl from etl.registry_ttl where etl.registry_ttl.status = coalesce(registry_ttl_for.status, 'NOT_FOUND')),
    (select ttl from etl.registry_ttl where etl.registry_ttl.status = '*'),
    interval '30 days')
$$;

-- Queues a registry_check job (job key = INN, so never twice) for each given INN that is
-- valid and has no fresh lookup. Does nothing when graphile-worker is not installed or
-- the setting registry_queue_checks is off. Returns how many were queued.
create or replace function etl.queue_registry_checks(inns text[]) returns integer
language plpgsql as $$
declare
  queued integer;
begin
  if to_regprocedure('graphile_worker.add_jobs(graphile_worker.job_spec[],boolean)') is null
     or coalesce((select value from etl.setting where name = 'registry_queue_checks'), 'on') <> 'on' then
    return 0;
  end if;
  select count(*) into queued from graphile_worker.add_jobs(array(
    select row('registry_check', json_build_object('inn', i.inn), null, null, null, i.inn, null, null)::graphile_worker.job_spec
    from (select distinct unnest(inns) as inn) as i
    where etl.inn_is_valid(i.inn)
      and not exists (select from etl.registry_lookup l where l.inn = i.inn and l.expires_at > now())
  ), true);
  return queued;
end
$$;
