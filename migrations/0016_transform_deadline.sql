-- The latest time the waiting transform job may run, whoever queued it. Landings and registry
-- answers queue one transform job (one key) with timings of their own: a live feed's wait is
-- 300 ms, a registry answer's 1.5 s. Each call moves the job's due time to its debounce, never
-- past its own longest wait; without this row a registry answer could move it past the feed's.
-- One row, for the job created at job_created_at (graphile-worker's created_at of the waiting
-- job); a row for another job is stale and read as none.
create table etl.transform_deadline (
  only_row        boolean primary key default true check (only_row),
  job_created_at  timestamptz not null,
  due_by          timestamptz not null
);
