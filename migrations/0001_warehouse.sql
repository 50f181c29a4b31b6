-- The warehouse's three layers: staging (what sources sent), canonical (one clean base),
-- etl (rules, state and the audit trail). Functions, views and procedures live in sql/
-- and are re-created by every `b2b-etl migrate`; tables live here, append-only.

create schema if not exists staging;
create schema if not exists canonical;
create schema if not exists etl;

-- One landing batch: rows of one source and entity committed together. The transform
-- works batch by batch (transformed_at), so a loader that commits late is never skipped
-- the way a max(id) watermark would skip it.
create table staging.batch (
  batch_id        bigserial primary key,
  source          text not null,
  entity          text not null check (entity in ('company', 'contact')),
  origin          text not null,            -- file path, mysql table, kafka topic
  rows_received   integer not null,
  rows_landed     integer not null,
  landed_at       timestamptz not null default now(),
  transformed_at  timestamptz
);
create index batch_pending_idx on staging.batch (batch_id) where transformed_at is null;

-- Grain: one row per distinct version of a source record. The same version landed twice
-- is one row (unique payload hash); a changed record adds a row, so this is the full
-- history of what each source sent.
create table staging.record (
  staging_id         bigserial primary key,
  batch_id           bigint not null,       -- staging.batch; no foreign key: its check per row halves COPY speed
  source             text collate "C" not null,
  entity             text collate "C" not null check (entity in ('company', 'contact')),
  source_key         text collate "C" not null,
  source_updated_at  timestamptz,
  is_deleted         boolean not null default false,
  payload            jsonb,                 -- null when the source sent something unparseable
  raw_text           text,                  -- what was received when payload is null
  payload_hash       uuid not null,         -- md5 of the payload as landed (or of raw_text), plus deletion
  landed_at          timestamptz not null default now(),
  unique (source, entity, source_key, payload_hash)
);
-- The unique index above also finds every version of one source record (its prefix).
create index record_batch_idx on staging.record (batch_id);

-- Where a file load got to: one row per committed batch, written in the batch's own
-- transaction. Batches commit in parallel, so --resume continues after the longest run of
-- records with no gap; anything after it is read again and landing skips what is there.
create table etl.file_progress (
  source        text not null,
  entity        text not null,
  file_path     text not null,
  first_record  bigint not null,
  last_record   bigint not null,
  byte_offset   bigint not null,
  landed_at     timestamptz not null default now(),
  primary key (source, entity, file_path, first_record)
);

create table etl.file_load (
  source        text not null,
  entity        text not null,
  file_path     text not null,
  file_size     bigint,
  records       bigint,
  started_at    timestamptz not null default now(),
  completed_at  timestamptz,
  primary key (source, entity, file_path)
);

-- Settings analysts may change and then re-run the transform (the load window, policies).
create table etl.setting (
  name        text primary key,
  value       text,
  description text not null
);
insert into etl.setting (name, value, description) values
  ('window_start', null, 'full-load window start (date); empty means January 1 of the previous year'),
  ('phone_default_region', 'RU', 'region assumed for phone numbers written without a country code'),
  ('transform_work_mem', '256MB', 'work_mem for the transform transaction (sorts and hashes over a whole load)');

-- Raw phone text -> E.164, filled by the TypeScript step with libphonenumber-js (max metadata).
create table etl.phone_dictionary (
  raw        text primary key,
  e164       text,                          -- null when the text is not a valid phone number
  extension  text,
  phone_type text,
  parsed_at  timestamptz not null default now()
);

-- Current cleaned version of each source record and its verdict. Derived from staging
-- only, so a full rebuild recomputes it row for row.
create table etl.source_company (
  source             text not null,
  source_key         text not null,
  staging_id         bigint not null,
  inn                text,
  kpp                text,
  ogrn               text,
  name               text,
  legal_form         text,
  legal_address      text,
  phones             text[] not null default '{}',
  invalid_phones     text[] not null default '{}',
  emails             text[] not null default '{}',
  bank_bik           text,
  bank_account       text,
  bank_corr_account  text,
  bank_name          text,
  source_created_at  timestamptz,
  source_updated_at  timestamptz,
  is_deleted         boolean not null default false,
  is_accepted        boolean not null,
  primary key (source, source_key)
);
create index source_company_inn_idx on etl.source_company (inn);

create table etl.source_contact (
  source             text not null,
  source_key         text not null,
  staging_id         bigint not null,
  company_source     text,
  company_key        text,
  company_id         bigint,
  last_name          text,
  first_name         text,
  middle_name        text,
  position           text,
  phones             text[] not null default '{}',
  phone_extensions   jsonb not null default '{}',
  invalid_phones     text[] not null default '{}',
  emails             text[] not null default '{}',
  source_updated_at  timestamptz,
  is_deleted         boolean not null default false,
  is_accepted        boolean not null,
  primary key (source, source_key)
);
create index source_contact_company_key_idx on etl.source_contact (company_source, company_key);
create index source_contact_company_idx on etl.source_contact (company_id);

-- Grain: one row per INN, ever. A company whose sources all went away is marked deleted.
create table canonical.company (
  company_id         bigserial primary key,
  inn                text not null unique,
  kpp                text,
  ogrn               text,
  name               text,
  legal_form         text,
  legal_address      text,
  phones             text[] not null default '{}',
  emails             text[] not null default '{}',
  bank_bik           text,
  bank_account       text,
  bank_corr_account  text,
  bank_name          text,
  source_count       integer not null default 0,
  is_deleted         boolean not null default false,
  row_hash           uuid,
  first_seen_at      timestamptz not null default now(),
  updated_at         timestamptz not null default now()
);

create table canonical.company_source (
  company_id  bigint not null references canonical.company,
  source      text not null,
  entity      text not null default 'company',
  source_key  text not null,
  linked_at   timestamptz not null default now(),
  primary key (source, entity, source_key)
);
create index company_source_company_idx on canonical.company_source (company_id);

-- Grain: one row per person per company.
create table canonical.contact (
  contact_id        bigserial primary key,
  company_id        bigint not null references canonical.company,
  last_name         text,
  first_name        text,
  middle_name       text,
  position          text,
  phones            text[] not null default '{}',   -- E.164
  phone_extensions  jsonb not null default '{}',    -- E.164 -> extension
  emails            text[] not null default '{}',
  source_count      integer not null default 0,
  is_deleted        boolean not null default false,
  row_hash          uuid,
  first_seen_at     timestamptz not null default now(),
  updated_at        timestamptz not null default now()
);
create index contact_company_idx on canonical.contact (company_id);

create table canonical.contact_source (
  contact_id  bigint not null references canonical.contact,
  source      text not null,
  entity      text not null default 'contact',
  source_key  text not null,
  linked_at   timestamptz not null default now(),
  primary key (source, entity, source_key)
);
create index contact_source_contact_idx on canonical.contact_source (contact_id);

-- Why a source record was dropped (severity error) or a field of it was emptied (warning).
-- A rejection that stops applying is resolved, never deleted.
create table etl.rejection (
  rejection_id   bigserial primary key,
  source         text not null,
  entity         text not null,
  source_key     text not null,
  reason         text not null,
  severity       text not null check (severity in ('error', 'warning')),
  detail         text not null,
  value          text,
  staging_id     bigint,
  first_seen_at  timestamptz not null default now(),
  last_seen_at   timestamptz not null default now(),
  resolved_at    timestamptz
);
create unique index rejection_open_idx on etl.rejection (source, entity, source_key, reason) where resolved_at is null;
create index rejection_reason_idx on etl.rejection (reason) where resolved_at is null;

-- Every merge: a source record joining a canonical entity that already had another, or
-- one canonical contact absorbed into an older one (merged_id).
create table etl.merge (
  merge_id     bigserial primary key,
  entity       text not null,
  canonical_id bigint not null,
  source       text,
  source_key   text,
  merged_id    bigint,
  rule         text not null,
  value        text,
  merged_at    timestamptz not null default now()
);
create unique index merge_member_idx on etl.merge (entity, canonical_id, coalesce(source, ''), coalesce(source_key, ''), coalesce(merged_id, 0), rule);
create index merge_source_idx on etl.merge (source, source_key);

-- One row per transform run, with what it did.
create table etl.run (
  run_id       bigserial primary key,
  kind         text not null,
  started_at   timestamptz not null default clock_timestamp(),
  finished_at  timestamptz,
  stats        jsonb not null default '{}'
);

-- The registry answer per INN; filled by the registry_check jobs. The transform already
-- lets its fields win survivorship, so checks only have to land rows here.
create table etl.registry_lookup (
  inn               text primary key,
  provider          text not null,
  status            text,
  liquidation_date  date,
  full_name         text,
  short_name        text,
  legal_form        text,
  kpp               text,
  ogrn              text,
  address           text,
  head              text,
  raw               jsonb,
  fetched_at        timestamptz not null default now(),
  expires_at        timestamptz not null
);
