-- INN validation. Returns null for a valid INN, else the rejection reason code:
-- inn_missing, inn_malformed (not 10 or 12 digits), inn_checksum.
-- 10 digits: weights 2,4,10,3,5,9,4,6,8; check = sum mod 11 mod 10 equals digit 10.
-- 12 digits: weights 7,2,4,10,3,5,9,4,6,8 give digit 11, then 3,7,2,4,10,3,5,9,4,6,8 give digit 12.
create or replace function etl.inn_problem(inn text) returns text
language plpgsql immutable parallel safe as $$
declare
  w10 constant int[] := array[2,4,10,3,5,9,4,6,8];
  w11 constant int[] := array[7,2,4,10,3,5,9,4,6,8];
  w12 constant int[] := array[3,7,2,4,10,3,5,9,4,6,8];
  digits text := etl.strip_spaces(inn);
begin
  if digits is null then
    return 'inn_missing';
  end if;
  if digits !~ '^(\d{10}|\d{12})$' then
    return 'inn_malformed';
  end if;
  if length(digits) = 10 then
    if etl.weighted_check(digits, w10) <> substr(digits, 10, 1)::int then
      return 'inn_checksum';
    end if;
  elsif etl.weighted_check(digits, w11) <> substr(digits, 11, 1)::int
     or etl.weighted_check(digits, w12) <> substr(digits, 12, 1)::int then
    return 'inn_checksum';
  end if;
  return null;
end
$$;

-- sum(digit[i] * weight[i]) mod 11 mod 10, over as many leading digits as there are weights.
create or replace function etl.weighted_check(digits text, weights int[]) returns int
language plpgsql immutable parallel safe as $$
declare
  total int := 0;
begin
  for i in 1 .. array_length(weights, 1) loop
    total := total + substr(digits, i, 1)::int * weights[i];
  end loop;
  return total % 11 % 10;
end
$$;

create or replace function etl.inn_is_valid(inn text) returns boolean
language sql immutable parallel safe as $$
  select etl.inn_problem(inn) is null
$$;
