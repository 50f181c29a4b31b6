-- Text cleaning used by every mapping: whitespace and Windows-1251 repair.

-- Text whose Windows-1251 bytes were decoded as Latin-1/Windows-1252 ('Ðîìàøêà') becomes
-- Cyrillic again ('Ромашка'); UTF-8 bytes read as Latin-1 ('Ð Ð¾Ð¼') are repaired too.
-- Text that is not clearly mojibake is returned untouched: at least three letters must
-- sit in the Latin-1 upper half and they must be the majority of the letters, so
-- 'Café Müller' stays as it is.
create or replace function etl.fix_mojibake(t text) returns text
language plpgsql immutable parallel safe as $$
declare
  suspicious int;
  letters int;
  repaired text;
  encoding text;
begin
  if t is null or t !~ '[À-ÿ]' or t ~ '[А-яЁё]' then
    return t;
  end if;
  suspicious := length(regexp_replace(t, '[^À-ÿ]', '', 'g'));
  letters := length(regexp_replace(t, '[^A-Za-zÀ-ÿ]', '', 'g'));
  if suspicious < 3 or suspicious * 2 < letters then
    return t;
  end if;
  -- UTF-8 read as Latin-1/Windows-1252: every Cyrillic letter became Ð or Ñ plus one more.
  if t ~ '[ÐÑ]' then
    foreach encoding in array array['WIN1252', 'LATIN1'] loop
      begin
        repaired := convert_from(convert_to(t, encoding), 'UTF8');
        if repaired ~ '[А-яЁё]' then
          return repaired;
        end if;
      exception when others then
        null; -- not UTF-8 in this reading; try the next, then Windows-1251 below
      end;
    end loop;
  end if;
  begin
    repaired := convert_from(convert_to(t, 'WIN1252'), 'WIN1251');
  exception when others then
    begin
      repaired := convert_from(convert_to(t, 'LATIN1'), 'WIN1251');
    exception when others then
      return t;
    end;
  end;
  return repaired;
end
$$;

-- Trimmed, inner whitespace collapsed to one space, mojibake repaired; '' becomes null.
create or replace function etl.clean_text(t text) returns text
language sql immutable parallel safe as $$
  select nullif(btrim(regexp_replace(case when t ~ '[À-ÿ]' then etl.fix_mojibake(t) else t end, '[\s\u00a0]+', ' ', 'g')), '')
$$;

-- Identifiers (INN, KPP, OGRN, BIK, accounts) lose every space but keep anything else,
-- so letters still make them malformed instead of silently vanishing.
create or replace function etl.strip_spaces(t text) returns text
language sql immutable parallel safe as $$
  select nullif(regexp_replace(t, '[\s\u00a0]+', '', 'g'), '')
$$;

-- Raw cp1251 bytes (for example a bytea column) as text.
create or replace function etl.decode_cp1251(b bytea) returns text
language sql immutable parallel safe as $$
  select convert_from(b, 'WIN1251')
$$;
