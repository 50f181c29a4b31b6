-- The batches the last transform held back because their phones wait for the dictionary: a
-- version in one is not current yet (staging.current_version). etl.transform keeps it.
create table staging.held_batch (
  batch_id bigint primary key references staging.batch (batch_id) on delete cascade
);
comment on table staging.held_batch is 'batches the last transform held back (phones waiting for the dictionary); their versions are not current yet';

-- The versions that could not be read as JSON, for "a newer version could not be read".
create index record_unreadable_idx on staging.record (source, entity, source_key) where payload is null;
