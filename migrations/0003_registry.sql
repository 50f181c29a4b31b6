-- The state registry (EGRUL) check: provider answers cached in etl.registry_lookup (from
-- 0001), an offline snapshot provider's table, the request pacing shared by every worker
-- process, and the quota pause.

-- Grain: one row per INN in an imported registry export (`b2b-etl registry import FILE`).
create table etl.registry_snapshot (
  inn               text primary key,
  status            text not null,          -- ACTIVE, LIQUIDATING, LIQUIDATED, BANKRUPT, REORGANIZING
  full_name         text,
  short_name        text,
  legal_form        text,
  kpp               text,
  ogrn              text,
  address           text,
  head              text,
  liquidation_date  date,
  source_file       text not null,
  imported_at       timestamptz not null default now()
);

-- Grain: one row per provider. Requests are spaced 1/rps apart across all worker
-- processes: each takes the next free slot under a row lock and waits for it. A spent
-- daily quota sets paused_until; checks wait until then and nobody is rejected.
create table etl.registry_pacing (
  provider      text primary key,
  next_slot     timestamptz not null default now(),
  paused_until  timestamptz,
  pause_reason  text
);

-- INNs whose registry answer changed since the last transform: the next transform takes
-- their source records into scope.
create table etl.registry_changed (
  inn         text primary key,
  changed_at  timestamptz not null default now()
);

-- Cache lifetime per status ('*' for any status without its own row; NOT_FOUND for an
-- empty answer). Analysts may change these; `b2b-etl enrich --refresh-older-than` re-queues.
create table etl.registry_ttl (
  status  text primary key,
  ttl     interval not null
);
insert into etl.registry_ttl (status, ttl) values ('*', '30 days'), ('NOT_FOUND', '30 days');

insert into etl.setting (name, value, description) values
  ('registry_unchecked_policy', 'wait',
   'wait: a company goes on (is_ready) only once the registry says ACTIVE; pass: an unchecked company goes on too'),
  ('registry_queue_checks', 'on', 'on: the transform queues a registry_check job for each company without a fresh lookup');

alter table canonical.company
  add column registry_status      text,          -- the registry's answer; null while unchecked
  add column registry_checked_at  timestamptz,
  add column is_ready             boolean not null default false;  -- may go on to the CRM

-- Grain: one row per running worker process: its graphile-worker worker ids and when it
-- last said it was alive. A process that stops saying so (kill -9, a lost machine) has its
-- jobs unlocked by the next worker that looks, so no job waits for graphile-worker's
-- four-hour lock timeout.
create table etl.worker_process (
  process_id  text primary key,
  worker_ids  text[] not null default '{}',
  host        text not null,
  pid         integer not null,
  started_at  timestamptz not null default now(),
  seen_at     timestamptz not null default now()
);
