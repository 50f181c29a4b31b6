-- Pacing of requests to a Bitrix24 portal, shared by every pushing process.

-- The portal's leaky bucket holds `size` requests and drains `drain` a second. Seen from the
-- sender that is a rate of one request per 1/drain seconds after a burst of `size` (the
-- generic cell rate algorithm): each request moves the bucket's theoretical empty time (tat)
-- on by 1/drain, and may go once tat is at most size/drain ahead of now. Returns how many
-- seconds the caller waits before sending; the row lock serialises the processes.
create or replace function etl.crm_slot(portal text, size double precision, drain double precision) returns double precision
language plpgsql as $$
declare
  now_at constant timestamptz := clock_timestamp();
  new_tat timestamptz;
begin
  insert into etl.crm_pacing as p (portal, tat) values (crm_slot.portal, now_at) on conflict do nothing;
  update etl.crm_pacing p
  set tat = greatest(p.tat, now_at) + make_interval(secs => 1.0 / drain)
  where p.portal = crm_slot.portal
  returning p.tat into new_tat;
  return greatest(extract(epoch from (new_tat - make_interval(secs => size / drain)) - now_at), 0);
end
$$;

-- The portal refused a request for the bucket (503 QUERY_LIMIT_EXCEEDED): its count is
-- higher than ours (another application on the same address, requests before we started).
-- Take the bucket as full: everyone waits until a request has drained.
create or replace function etl.crm_bucket_full(portal text, size double precision, drain double precision) returns void
language sql as $$
  update etl.crm_pacing p
  set tat = greatest(p.tat, clock_timestamp() + make_interval(secs => size / drain))
  where p.portal = crm_bucket_full.portal
$$;
