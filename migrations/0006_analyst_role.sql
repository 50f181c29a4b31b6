-- Analysts read the warehouse through one group role, never through the role that owns it.
-- b2b_etl_analyst cannot log in; `b2b-etl grant analyst ROLE` makes a login role a member.
-- Roles belong to the whole server, so another database on it may have created the role
-- already (or be creating it right now); a migrating role without CREATEROLE leaves it to
-- an administrator. Tables and views created later by the migrating role are readable by
-- the analysts at once (default privileges); sql/grants/analyst.sql grants again on every
-- migrate, for objects another role created.
do $$
begin
  if not exists (select from pg_roles where rolname = 'b2b_etl_analyst') then
    begin
      create role b2b_etl_analyst nologin;
    exception
      when duplicate_object or unique_violation then null;
      when insufficient_privilege then
        raise warning 'cannot create role b2b_etl_analyst (%): ask an administrator to run "create role b2b_etl_analyst nologin", then b2b-etl migrate again', sqlerrm;
        return;
    end;
  end if;
  alter default privileges in schema staging, canonical, etl grant select on tables to b2b_etl_analyst;
end
$$;
