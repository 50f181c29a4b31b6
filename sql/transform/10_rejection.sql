-- Keep etl.rejection in step with the problems found for the records in scope:
-- problems still present are refreshed (last_seen_at), new ones opened, and open ones
-- that no longer apply are resolved. Nothing is deleted.
create or replace function etl.sync_rejections(scope_entity text) returns void
language plpgsql as $$
begin
  perform etl.prefer_lookups(true);
  if scope_entity = 'company' then
    update etl.rejection r set resolved_at = now()
    from tf_company_key k
    where r.resolved_at is null and r.entity = 'company' and r.source = k.source and r.source_key = k.source_key
      and not exists (select from tf_problem p
                      where p.entity = 'company' and p.source = r.source and p.source_key = r.source_key and p.reason = r.reason);
  elsif scope_entity = 'contact' then
    update etl.rejection r set resolved_at = now()
    from tf_contact_key k
    where r.resolved_at is null and r.entity = 'contact' and r.source = k.source and r.source_key = k.source_key
      and not exists (select from tf_problem p
                      where p.entity = 'contact' and p.source = r.source and p.source_key = r.source_key and p.reason = r.reason);
  else
    update etl.rejection r set resolved_at = now()
    from tf_order_key k
    where r.resolved_at is null and r.entity = 'order' and r.source = k.source and r.source_key = k.source_key
      and not exists (select from tf_problem p
                      where p.entity = 'order' and p.source = r.source and p.source_key = r.source_key and p.reason = r.reason);
  end if;
  perform etl.prefer_lookups(false);

  insert into etl.rejection as r (source, entity, source_key, reason, severity, detail, value, staging_id)
  select source, entity, source_key, reason, severity, detail, value, staging_id
  from tf_problem
  where entity = scope_entity
  on conflict (source, entity, source_key, reason) where resolved_at is null do update set
    severity = excluded.severity, detail = excluded.detail, value = excluded.value,
    staging_id = excluded.staging_id, last_seen_at = now();
end
$$;
