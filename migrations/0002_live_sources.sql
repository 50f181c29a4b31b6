-- Loader state for the live sources: where the MySQL sync got to and which Kafka offsets
-- are landed. Both are written in the landing batch's own transaction, so they can never
-- run ahead of the data.

-- Grain: one row per (source, table). The keyset position of the last landed row, in the
-- order the loader reads: (updated_at, id). An incremental sync starts `lag` before it.
create table etl.mysql_position (
  source          text not null,
  entity          text not null check (entity in ('company', 'contact')),
  source_table    text not null,
  updated_at      timestamp not null,      -- the source's datetime, as the source wrote it
  last_id         bigint not null,
  rows_landed     bigint not null default 0,
  full_load_at    timestamptz,             -- when the last full load finished
  updated         timestamptz not null default now(),
  primary key (source, entity)
);

-- Grain: one row per (consumer group, topic, partition). The next offset to land; the
-- consumer seeks here on every assignment, and skips anything below it.
create table etl.kafka_offset (
  group_id     text not null,
  topic        text not null,
  partition    integer not null,
  next_offset  bigint not null,
  updated      timestamptz not null default now(),
  primary key (group_id, topic, partition)
);

-- Grain: one row per Kafka message landed (a new version or not), so an auditor can go
-- from any offset to the record it carried: (source, entity, source_key) in staging.record,
-- where an unreadable message is keyed 'topic/partition/offset' itself.
create table staging.kafka_message (
  topic        text not null,
  partition    integer not null,
  "offset"     bigint not null,
  message_key  text,
  source       text not null,
  entity       text not null,
  source_key   text not null,
  produced_at  timestamptz,
  landed_at    timestamptz not null default now(),
  primary key (topic, partition, "offset")
);
