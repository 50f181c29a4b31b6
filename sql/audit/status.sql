-- What `b2b-etl status` says of the sources, the jobs and the rejections, for people and for
-- analysts. Dropped and created again so a later version may change their columns.
drop view if exists etl.source_status, etl.job_status, etl.rejection_change;

-- Grain: one row per source: its last landing (a batch that brought something new), what it
-- landed in all, and where each of its loaders stands (a MySQL table's watermark, a Kafka
-- partition's next offset, a file's load).
create view etl.source_status as
with landed as (
  select source, max(landed_at) as last_landed_at, sum(rows_landed) as records, count(*) as batches
  from staging.batch
  group by source
),

mysql as (
  select source, jsonb_agg(jsonb_build_object('entity', entity, 'table', source_table, 'watermark', updated_at, 'last_id', last_id,
    'updated', updated) order by entity) as mysql
  from etl.mysql_position
  group by source
),

kafka as (
  -- offsets are kept per group and topic; the topic's events land under the source the consumer maps them to
  select m.source, jsonb_agg(distinct jsonb_build_object('group', o.group_id, 'topic', o.topic, 'partition', o.partition,
    'next_offset', o.next_offset, 'updated', o.updated)) as kafka
  from etl.kafka_offset o
  join lateral (select k.source from staging.kafka_message k where k.topic = o.topic and k.partition = o.partition limit 1) m on true
  group by m.source
),

files as (
  select source, jsonb_agg(jsonb_build_object('entity', entity, 'file', file_path, 'records', records, 'started', started_at,
    'completed', completed_at) order by started_at desc) as files
  from etl.file_load
  group by source
),

final as (
  select s.source, l.last_landed_at, extract(epoch from now() - l.last_landed_at)::int as age_seconds,
    coalesce(l.records, 0)::int as records, coalesce(l.batches, 0)::int as batches,
    coalesce(m.mysql, '[]') as mysql, coalesce(k.kafka, '[]') as kafka, coalesce(f.files, '[]') as files
  from (select source from landed union select source from mysql union select source from kafka union select source from files) s
  left join landed l using (source)
  left join mysql m using (source)
  left join kafka k using (source)
  left join files f using (source)
)

select * from final;

-- Grain: one row per job task: waiting, running, failed every attempt, and the newest error.
create view etl.job_status as
with final as (
  select task_identifier as task,
    count(*) filter (where locked_at is null and attempts < max_attempts)::int as queued,
    count(*) filter (where locked_at is not null)::int as running,
    count(*) filter (where attempts >= max_attempts and locked_at is null)::int as failed,
    (array_agg(split_part(last_error, E'\n', 1) order by updated_at desc) filter (where last_error is not null))[1] as last_error
  from graphile_worker.jobs
  group by task_identifier
)

select * from final;

-- Grain: one row per entity, severity and reason open now: how many, and how that changed
-- since the transform before the last one began (new, resolved).
create view etl.rejection_change as
with previous as (
  select coalesce((select started_at from etl.run where finished_at is not null order by run_id desc offset 1 limit 1), '-infinity') as since
),

final as (
  select r.entity, r.severity, r.reason,
    count(*) filter (where r.resolved_at is null)::int as open,
    count(*) filter (where r.first_seen_at >= p.since and r.resolved_at is null)::int as new_since_previous,
    count(*) filter (where r.resolved_at >= p.since)::int as resolved_since_previous
  from etl.rejection r, previous p
  group by r.entity, r.severity, r.reason
)

select * from final where open > 0 or resolved_since_previous > 0;

comment on view etl.source_status is 'one row per source: last landing and its age, records landed, MySQL watermarks, Kafka offsets, file loads';
comment on view etl.job_status is 'one row per job task: queued, running, failed every attempt, newest error';
comment on view etl.rejection_change is 'open rejections per entity, severity and reason, and how many are new or resolved since the transform before the last';
