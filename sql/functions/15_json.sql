-- Safe casts for payload fields: a bad value becomes null instead of failing the whole run.

-- A JSON array as it is; a single string or number as a one-element array; anything else
-- (null, object, missing) as an empty array. One expression, so the planner inlines it.
create or replace function etl.as_json_array(j jsonb) returns jsonb
language sql immutable parallel safe as $$
  select case jsonb_typeof(j)
    when 'array' then j
    when 'string' then jsonb_build_array(j)
    when 'number' then jsonb_build_array(j)
    else '[]'::jsonb
  end
$$;

create or replace function etl.try_timestamptz(t text) returns timestamptz
language plpgsql stable parallel safe as $$
begin
  return t::timestamptz;
exception when others then
  return null;
end
$$;

-- Legal form written in front of or after a company name ('ООО «Ромашка»', 'Ромашка, АО').
create or replace function etl.legal_form_of(name text) returns text
language sql immutable parallel safe as $$
  select upper((regexp_match(name, '(?:^|[\s,«"(])(ООО|ОАО|ЗАО|ПАО|НАО|АО|ИП|НКО|АНО|ГУП|МУП|ФГУП|ТСЖ)(?:$|[\s,»")])', 'i'))[1])
$$;
