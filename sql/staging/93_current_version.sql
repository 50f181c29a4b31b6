-- The current version of each source record (source, entity, source_key): the one rule the
-- transform and `land mysql --reconcile-deletes` both use. Of a record's versions outside the
-- batches the transform holds back (staging.held_batch), the current one is the latest by the
-- source's change time, or by when it landed for a version without one (the latest read of a
-- row wins), then the latest landed. A version that could not be read as JSON (landed raw) is
-- current only when the record has no other: the last version that could be read stands, and
-- has_newer_unreadable says that a newer one could not be read.
--
-- Written as "no better version exists" rather than a window or DISTINCT ON, so a query for
-- a few keys (an incremental transform) reads only their versions through the indexes.
create view staging.current_version as
select
  r.*,
  r.payload is not null and exists (
    select from staging.record u
    where u.source = r.source and u.entity = r.entity and u.source_key = r.source_key
      and u.payload is null
      and coalesce(u.source_updated_at, u.landed_at) > coalesce(r.source_updated_at, r.landed_at)
      and not exists (select from staging.held_batch h where h.batch_id = u.batch_id)
  ) as has_newer_unreadable
from staging.record r
where not exists (select from staging.held_batch h where h.batch_id = r.batch_id)
  and not exists (
    select from staging.record o
    where o.source = r.source and o.entity = r.entity and o.source_key = r.source_key
      and (o.payload is not null, coalesce(o.source_updated_at, o.landed_at), o.staging_id)
        > (r.payload is not null, coalesce(r.source_updated_at, r.landed_at), r.staging_id)
      and not exists (select from staging.held_batch h where h.batch_id = o.batch_id)
  );

comment on view staging.current_version is 'the current version of each source record, as the transform and --reconcile-deletes pick it';
