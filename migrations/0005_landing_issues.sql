-- What a loader could not take from a record as it is: no key, a payload PostgreSQL refuses,
-- a change time in no form the source's settings describe. The record still lands (nothing
-- is dropped without a trace) and the transform turns each issue into a rejection: an error
-- drops the record, a warning empties the field.

-- [{"reason": "key_missing" | "unparseable" | "updated_unparseable", "severity": "error" | "warning",
--   "detail": "...", "value": "..."}]; null for the records with nothing to say (almost all).
alter table staging.record add column landing_issues jsonb;
comment on column staging.record.landing_issues is
  'what the loader could not read in this version (reason, severity, detail, value); the transform rejects by it';

-- A file load remembers the file it read, so --resume never skips the records of another
-- file that took its name: the digest of the records landed so far, in file order, per
-- committed batch (md5 over the records'' payload hashes), and the file's size and mtime.
alter table etl.file_progress add column prefix_digest text;
comment on column etl.file_progress.prefix_digest is
  'md5 over the payload hashes of records 1 to last_record, in file order: a resumed load checks the file still starts with them';
alter table etl.file_load
  add column file_modified_at timestamptz,
  add column head_md5 text;

-- A MySQL table keyed by text (an article code, a UUID) has no numeric last_id: the
-- watermark keeps the key as the source wrote it too (last_id is then 0).
alter table etl.mysql_position add column last_key text;
