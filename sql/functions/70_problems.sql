-- Problems every entity's cleaning step reports the same way (etl.clean_companies,
-- etl.clean_contacts, etl.clean_orders), one row per problem as tf_problem takes them.

-- What the loader could not read of the current version: its landing issues (no key, a payload
-- PostgreSQL refused, an unreadable change time), a payload that is not a JSON object, and a
-- newer version that could not be read at all.
create or replace function etl.landing_problems(landing_issues jsonb, is_unparseable boolean, has_newer_unreadable boolean)
returns table (reason text, severity text, detail text, value text)
language sql immutable as $$
  select i.reason, i.severity, i.detail, i.value
    from jsonb_to_recordset(landing_issues) as i(reason text, severity text, detail text, value text)
  union all
  select 'unparseable', 'error', 'the payload is not a JSON object', null::text
    where is_unparseable and not coalesce(landing_issues @> '[{"reason": "unparseable"}]', false)
  union all
  select 'newer_unparseable', 'warning', 'a newer version could not be read (landed raw, see why); the last version that could stands', null::text
    where has_newer_unreadable
$$;

-- A contact's or an order's company: never landed, or landed and rejected (naming the
-- company's open reasons, or its deletion at the source).
create or replace function etl.company_problems(company_source text, company_key text, has_company boolean, is_company_accepted boolean)
returns table (reason text, severity text, detail text, value text)
language sql stable as $$
  select 'company_missing', 'error',
    case when company_key is null then 'it names no company (its company id is empty)'
         else format('no company %s:%s has been landed', company_source, company_key) end, company_key
    where not has_company
  union all
  select 'company_rejected', 'error',
    format('company %s:%s was rejected (%s)', company_source, company_key, coalesce((
      select string_agg(distinct r.reason, ', ')
      from etl.rejection r
      where r.source = company_problems.company_source and r.entity = 'company' and r.source_key = company_problems.company_key
        and r.severity = 'error' and r.resolved_at is null), 'deleted at the source')),
    company_key
    where has_company and not is_company_accepted
$$;
