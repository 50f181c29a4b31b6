-- Checks for the other requisites. Each returns null when the value is valid (or absent)
-- and a reason code otherwise; a bad value is a warning and the field is left empty.

-- KPP: 4 digits (tax office), 2 digits or capital Latin letters (reason), 3 digits.
create or replace function etl.kpp_problem(kpp text) returns text
language sql immutable parallel safe as $$
  select case when kpp is null or kpp ~ '^\d{4}[\dA-Z]{2}\d{3}$' then null else 'kpp_malformed' end
$$;

-- OGRN: 13 digits, last = (first 12 as a number mod 11) mod 10.
-- OGRNIP: 15 digits, last = last digit of (first 14 as a number mod 13).
create or replace function etl.ogrn_problem(ogrn text) returns text
language sql immutable parallel safe as $$
  select case
    when ogrn is null then null
    when ogrn ~ '^\d{13}$' then
      case when (left(ogrn, 12)::numeric % 11) % 10 = right(ogrn, 1)::int then null else 'ogrn_checksum' end
    when ogrn ~ '^\d{15}$' then
      case when (left(ogrn, 14)::numeric % 13) % 10 = right(ogrn, 1)::int then null else 'ogrn_checksum' end
    else 'ogrn_malformed'
  end
$$;

-- Bank of Russia control key: the 23-digit string (3 digits from the BIK + 20-digit
-- account) weighted 7,1,3 repeating; the sum of the low digits of the products ends in 0.
create or replace function etl.account_key_ok(prefix text, account text) returns boolean
language plpgsql immutable parallel safe as $$
declare
  weights constant int[] := array[7,1,3];
  digits text := prefix || account;
  total int := 0;
begin
  for i in 1 .. 23 loop
    total := total + (substr(digits, i, 1)::int * weights[(i - 1) % 3 + 1]) % 10;
  end loop;
  return total % 10 = 0;
end
$$;

create or replace function etl.bik_problem(bik text) returns text
language sql immutable parallel safe as $$
  select case when bik is null or bik ~ '^\d{9}$' then null else 'bank_bik_malformed' end
$$;

-- Settlement account: key over the last 3 digits of the BIK + account.
create or replace function etl.bank_account_problem(bik text, account text) returns text
language sql immutable parallel safe as $$
  select case
    when account is null then null
    when account !~ '^\d{20}$' then 'bank_account_malformed'
    when bik is null or bik !~ '^\d{9}$' then 'bank_account_unverifiable'
    when etl.account_key_ok(right(bik, 3), account) then null
    else 'bank_account_checksum'
  end
$$;

-- Correspondent account: key over '0' + digits 5-6 of the BIK + account.
create or replace function etl.corr_account_problem(bik text, account text) returns text
language sql immutable parallel safe as $$
  select case
    when account is null then null
    when account !~ '^\d{20}$' then 'bank_corr_account_malformed'
    when bik is null or bik !~ '^\d{9}$' then 'bank_corr_account_unverifiable'
    when etl.account_key_ok('0' || substr(bik, 5, 2), account) then null
    else 'bank_corr_account_checksum'
  end
$$;
