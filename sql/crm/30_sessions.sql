-- A push session holds the advisory lock crm_push:<session> on a connection of its own for as
-- long as it runs; a process that dies (kill -9, a lost machine) loses it with its connection.
-- So a row claimed by a session whose lock is free was left by a dead push: another may take it.

-- Whether the push session holds its lock. Never ask about your own session (an advisory
-- lock is re-entrant: the owner would see it free).
create or replace function etl.crm_session_alive(session text) returns boolean
language plpgsql as $$
begin
  if session is null then
    return false;
  end if;
  if pg_try_advisory_lock(hashtext('crm_push:' || session)) then
    perform pg_advisory_unlock(hashtext('crm_push:' || session));
    return false;
  end if;
  return true;
end
$$;
