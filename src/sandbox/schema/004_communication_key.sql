-- How the portal compares phones and e-mails when it looks for duplicates: one value in, the
-- key it is compared by out (bitrix24-api.md §7; CORE-CRM DuplicateCommunicationCriterion,
-- which calls NormalizePhone). `8 (901) 000-00-01`, `+7 901 000-00-01` and
-- `89010000001 доб. 12` are one number to the portal, so they are one key here:
--   a phone loses its extension (b24-rest-docs issue #72) and everything but digits, then an
--   international 00 or 011 prefix or a single leading 0, then the 8 of an 11-digit Russian
--   number becomes 7;
--   an e-mail is compared lower-cased.
-- Immutable, so the index below serves the lookup.
create function communication_key(type_id text, value text) returns text
language sql immutable strict parallel safe
as $$
  with digits as (
    select regexp_replace(regexp_replace(value, '\s*(доб\.?|ext\.?|x|#|,)\s*\d*\s*$', '', 'i'), '\D', '', 'g') as number
  ),

  unprefixed as (
    select case
      when number like '00%' then substr(number, 3)
      when number like '011%' then substr(number, 4)
      when number like '0%' then substr(number, 2)
      else number
    end as number
    from digits
  ),

  final as (
    select case
      when type_id = 'EMAIL' then lower(btrim(value))
      when type_id <> 'PHONE' then value
      when length(number) = 11 and number like '8%' then '7' || substr(number, 2)
      else number
    end as communication_key
    from unprefixed
  )

  select * from final
$$;

create index multifield_communication_key on multifield (type_id, communication_key(type_id, value));
