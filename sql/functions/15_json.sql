-- Safe casts for payload fields: a bad value becomes null instead of failing the whole run.

-- A JSON array (or a single scalar) as text[]; anything else is an empty array.
create or replace function etl.json_text_array(j jsonb) returns text[]
language sql immutable parallel safe as $$
  select case jsonb_typeof(j)
    when 'array' then array(select jsonb_array_elements_text(j) as element)
    when 'string' then array[j #>> '{}']
    when 'number' then array[j #>> '{}']
    else '{}'::text[]
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
