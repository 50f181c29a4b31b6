-- Registry (EGRUL) helpers shared by the workers and the transform.

-- The next request slot for a provider, shared by every worker process: slots are 1/rps
-- apart; the caller waits the returned seconds, then sends. The row lock serialises takers.
-- Null while the provider is paused: a request that waited for its slot is not sent after
-- another one found the token refused or the quota spent.
create or replace function etl.registry_slot(provider text, rps double precision) returns double precision
language plpgsql as $$
declare
  wait_seconds double precision;
begin
  insert into etl.registry_pacing (provider) values (registry_slot.provider) on conflict do nothing;
  update etl.registry_pacing p
  set next_slot = greatest(p.next_slot, clock_timestamp()) + make_interval(secs => 1.0 / rps)
  where p.provider = registry_slot.provider and (p.paused_until is null or p.paused_until <= now())
  returning extract(epoch from (p.next_slot - make_interval(secs => 1.0 / rps)) - clock_timestamp())
  into wait_seconds;
  if not found then
    return null;
  end if;
  return greatest(wait_seconds, 0);
end
$$;

-- Pauses a provider until `until` ('infinity' for a configuration error: a person must act).
-- Returns true when this call paused it, false when it was paused already (so only the
-- first of many concurrent checks says so). A later quota pause never shortens a pause.
create or replace function etl.registry_pause(provider text, until timestamptz, reason text, kind text, fingerprint text)
returns boolean
language plpgsql as $$
declare
  was_paused boolean;
begin
  insert into etl.registry_pacing (provider) values (registry_pause.provider) on conflict do nothing;
  select p.paused_until > now() into was_paused
  from etl.registry_pacing p where p.provider = registry_pause.provider for update;
  update etl.registry_pacing p
  set paused_until = case when coalesce(was_paused, false) then greatest(p.paused_until, until) else until end,
      pause_reason = reason,
      pause_kind = kind,
      paused_at = case when coalesce(was_paused, false) then p.paused_at else now() end,
      config_fingerprint = fingerprint
  where p.provider = registry_pause.provider;
  return not coalesce(was_paused, false);
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

-- Queues a registry_check job for each given INN that is valid and has no fresh lookup
-- (or every valid one when `force`: a refresh), keyed by the INN, flagged 'registry' (a
-- worker skips flagged jobs while the provider is paused). A job already queued for the INN
-- is left exactly as it is: graphile-worker's add_jobs, and add_job's 'replace' and
-- 'preserve_run_at' modes, reset a waiting job's attempts and last_error, so a check that
-- keeps failing would be asked again from attempt 0 after every transform; 'unsafe_dedupe'
-- only bumps the existing job's revision. Returns how many were new.
create or replace function etl.add_registry_check_jobs(inns text[], force boolean) returns integer
language plpgsql as $$
declare
  queued integer := 0;
  check_inn text;
  revision integer;
begin
  for check_inn in
    select distinct i.inn from unnest(inns) as i(inn)
    where etl.inn_is_valid(i.inn)
      and (force or not exists (select from etl.registry_lookup l where l.inn = i.inn and l.expires_at > now()))
      -- a queued job is kept as it is; looking first spares add_job for the common case
      and not exists (select from graphile_worker.jobs j where j.key = i.inn)
  loop
    select (graphile_worker.add_job(identifier => 'registry_check', payload => json_build_object('inn', check_inn, 'force', force),
      job_key => check_inn, flags => array['registry'], job_key_mode => 'unsafe_dedupe')).revision into revision;
    if revision = 0 then
      queued := queued + 1;
    end if;
  end loop;
  return queued;
end
$$;

-- The transform's call: registry_check jobs for the given INNs without a fresh lookup.
-- Does nothing when the setting registry_queue_checks is off (migrate installs
-- graphile-worker's schema before this file, so its add_job is always there). Returns how
-- many were queued.
create or replace function etl.queue_registry_checks(inns text[]) returns integer
language plpgsql as $$
begin
  if coalesce((select value from etl.setting where name = 'registry_queue_checks'), 'on') <> 'on' then
    return 0;
  end if;
  return etl.add_registry_check_jobs(inns, false);
end
$$;
