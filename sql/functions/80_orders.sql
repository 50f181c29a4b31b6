-- How the stores write an order's numbers, dates and currency, read strictly: what does not
-- fit is null, and the transform rejects the order naming the value (never a guess).

-- A decimal as a store writes it: 1234.5, "1 234,50", "1234.50 ₽", "-3"; rounded to `scale`
-- places; null when it is no number or has more than `max_digits` digits before the point (it
-- would not fit the warehouse's column: numeric(16,2) for money, numeric(14,3) for quantities).
create or replace function etl.parse_decimal(t text, scale integer, max_digits integer) returns numeric
language plpgsql immutable parallel safe as $$
declare
  s text := t;
  r numeric;
begin
  if s !~ '^-?\d+(\.\d+)?$' then  -- a plain number, as most are, needs no cleaning
    s := regexp_replace(coalesce(t, ''), '[\s\u00a0₽]|руб\.?|RUB', '', 'gi');
    if s ~ '^-?\d+,\d+$' then s := replace(s, ',', '.'); end if;
    if s !~ '^-?\d+(\.\d+)?$' then return null; end if;
  end if;
  -- digits counted before rounding (a string of thousands of digits is no number here) and
  -- after it: 99999999999999.999 rounds to a fifteenth digit
  if length(split_part(ltrim(s, '-0'), '.', 1)) > max_digits then return null; end if;
  r := round(s::numeric, scale);
  if length(trunc(abs(r))::text) > max_digits then return null; end if;
  return r;
end
$$;

-- Money: two places, at most 14 digits before the point (canonical.deal.amount is numeric(16,2)).
create or replace function etl.parse_amount(t text) returns numeric
language sql immutable parallel safe as $$ select etl.parse_decimal(t, 2, 14) $$;

-- A quantity: three places (store A's column is decimal(12,3)), at most 11 digits before the point.
create or replace function etl.parse_quantity(t text) returns numeric
language sql immutable parallel safe as $$ select etl.parse_decimal(t, 3, 11) $$;

-- A currency as ISO 4217 letters: upper case; the old rouble code RUR and the rouble written in
-- Russian (руб, руб., р.) as RUB; null when it is not three letters.
create or replace function etl.clean_currency(t text) returns text
language sql immutable parallel safe as $$
  select case when c in ('RUR', 'РУБ', 'РУБ.', 'Р.', 'Р', '₽') then 'RUB' when c ~ '^[A-Z]{3}$' then c end
  from (select upper(btrim(coalesce(t, ''))) as c) as x
$$;

-- When an order was placed, from ISO-8601 text only: a date and time with its offset (Z,
-- +03, +03:00, +0300), or a date alone, taken as that day in Moscow time, the stores' own.
-- Anything else is null: a time without an offset (which zone?), 01.02.2025 (which is the
-- month?), 'now', 'infinity', a day that does not exist such as 2025-02-30.
-- A day, an hour or an offset that does not exist is caught before the cast, not by an
-- exception block: that would make the function parallel unsafe, and a query on the order
-- views that the planner runs in parallel would fail. The pattern takes the ranges of each
-- part (no year 0000, month 01-12, day 01-31, hour 00-23, offset up to 15:59); the length of
-- the month is checked for days past the 28th.
create or replace function etl.parse_order_time(t text) returns timestamptz
language plpgsql stable parallel safe as $$
declare
  s text := btrim(coalesce(t, ''));
  y integer;
  m integer;
  d integer;
  month_days integer;
begin
  if s ~ '^\d{4}-\d{2}-\d{2}$' then
    s := s || 'T00:00:00+03:00';
  end if;
  if s !~ '^(?!0000)\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])[T ]([01]\d|2[0-3]):[0-5]\d(:[0-5]\d(\.\d{1,6})?)?(Z|[+-](0\d|1[0-5])(:?[0-5]\d)?)$' then
    return null;
  end if;
  d := substr(s, 9, 2)::integer;
  if d > 28 then
    y := substr(s, 1, 4)::integer;
    m := substr(s, 6, 2)::integer;
    month_days := case when m = 2 then case when y % 4 = 0 and (y % 100 <> 0 or y % 400 = 0) then 29 else 28 end
                       when m in (4, 6, 9, 11) then 30 else 31 end;
    if d > month_days then
      return null;
    end if;
  end if;
  return s::timestamptz;
end
$$;
