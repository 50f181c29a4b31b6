-- The analysts' read-only access, granted again at the end of every migrate: the views in sql/ are
-- dropped and created anew, and a new view has no grants. b2b_etl_analyst is the group role
-- migrations/0006 creates; `b2b-etl grant analyst ROLE` makes a login role a member.
-- Reading: staging, canonical, etl (the audit trail, loader state, registry answers) and analytics,
-- the job queue; calling etl.why. No insert, update, delete or create anywhere.
do $$
begin
  if not exists (select from pg_roles where rolname = 'b2b_etl_analyst') then
    raise warning 'role b2b_etl_analyst does not exist (creating it needs CREATEROLE): analysts get no grants until an administrator runs "create role b2b_etl_analyst nologin" and b2b-etl migrate runs again';
    return;
  end if;
  grant usage on schema staging, canonical, etl, analytics to b2b_etl_analyst;
  grant select on all tables in schema staging, canonical, etl, analytics to b2b_etl_analyst;
  grant execute on function etl.why(text) to b2b_etl_analyst;
  if to_regclass('graphile_worker.jobs') is not null then
    grant usage on schema graphile_worker to b2b_etl_analyst;
    grant select on graphile_worker.jobs to b2b_etl_analyst;
  end if;
end
$$;
