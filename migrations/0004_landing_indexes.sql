-- Landing cost. Every row landed in staging.record updates each of its indexes, and the
-- batch index was only read to find the rows of batches not yet transformed. Each batch now
-- records a staging_id below all of its rows (the sequence only grows, and the batch row is
-- written before its records), so those rows are found through the primary key.
alter table staging.batch add column first_staging_id bigint;
update staging.batch b
set first_staging_id = coalesce((select min(r.staging_id) - 1 from staging.record r where r.batch_id = b.batch_id), 0);
alter table staging.batch
  alter column first_staging_id set default nextval('staging.record_staging_id_seq'),
  alter column first_staging_id set not null;
comment on column staging.batch.first_staging_id is
  'every staging.record row of this batch has a larger staging_id: find them with staging_id > first_staging_id and batch_id = ...';
drop index staging.record_batch_idx;

-- The same version twice is one row: the unique key now leads with the source key and the
-- hash, which tell almost every row apart at the first comparisons (source and entity are the
-- same for a whole load). It still finds every version of one source record.
alter table staging.record drop constraint record_source_entity_source_key_payload_hash_key;
alter table staging.record add constraint record_version_key unique (source_key, payload_hash, source, entity);
