-- The push to Bitrix24: which canonical row is which CRM entity on which portal, what was
-- pushed last (so only changes travel and a manager's edits are never overwritten), what
-- failed, and the state every pushing process shares to stay within the portal's limits.

-- Grain: one row per canonical company or contact per portal. A row is written before the
-- add that creates the entity is sent (state 'sending', claimed_by the pushing session), so a
-- crash leaves evidence; the outcome replaces it ('linked' with the Bitrix ids, or 'failed').
create table etl.crm_link (
  portal            text not null,          -- host/user of the webhook, never its secret
  entity            text not null check (entity in ('company', 'contact')),
  canonical_id      bigint not null,
  bitrix_id         bigint,                 -- the CRM company or contact
  requisite_id      bigint,                 -- companies: their requisite, its bank detail, and whether the legal address is there
  bankdetail_id     bigint,
  has_address       boolean not null default false,
  state             text not null check (state in ('sending', 'linked', 'failed')),
  how               text check (how in ('created', 'adopted')),
  mode              text check (mode in ('import', 'add')),
  claimed_by        text,                   -- the push session working on the row now
  claimed_run       bigint,                 -- the push run that last took it (a run takes a row once)
  pushed_hash       uuid,                   -- md5 of what was last pushed (etl.crm_*_out.out_hash)
  pushed            jsonb,                  -- what was last pushed: only those values are ever changed or removed
  intent_at         timestamptz,
  pushed_at         timestamptz,
  last_error        text,
  primary key (portal, entity, canonical_id)
);
create index crm_link_bitrix_idx on etl.crm_link (portal, entity, bitrix_id);
create index crm_link_sending_idx on etl.crm_link (portal, claimed_by) where state = 'sending';

-- Grain: one row per failure of one entity in one push: the method and the portal's words.
create table etl.crm_push_error (
  error_id      bigserial primary key,
  run_id        bigint,
  portal        text not null,
  entity        text not null,
  canonical_id  bigint not null,
  method        text not null,
  code          text,
  description   text not null,
  failed_at     timestamptz not null default now()
);
create index crm_push_error_entity_idx on etl.crm_push_error (portal, entity, canonical_id);

-- Grain: one row per push run: what it did, by entity and outcome, and what it cost.
create table etl.crm_push_run (
  run_id       bigserial primary key,
  portal       text not null,
  mode         text not null,
  dry_run      boolean not null default false,
  started_at   timestamptz not null default now(),
  finished_at  timestamptz,
  stats        jsonb not null default '{}'
);

-- Grain: one row per portal. The leaky bucket every pushing process shares: requests are
-- spaced 1/drain apart after a burst of `size` (the generic cell rate algorithm: `tat` is
-- the bucket's theoretical empty time), taken under a row lock.
create table etl.crm_pacing (
  portal        text primary key,
  tat           timestamptz not null default now(),
  paused_until  timestamptz,
  pause_reason  text
);

-- Grain: one row per (portal, method): the portal's own account of the method's execution
-- time in its window (time.operating, time.operating_reset_at), so every process approaches
-- the limit instead of hitting it; blocked_until after a 429 OPERATION_TIME_LIMIT.
create table etl.crm_operating (
  portal         text not null,
  method         text not null,
  operating      double precision not null default 0,
  reset_at       timestamptz,
  cost_per_unit  double precision,        -- seconds per command (per item for imports), learned from responses
  minutes        jsonb not null default '{}',  -- seconds charged per minute of the window, as observed: what drops out when
  blocked_until  timestamptz,
  updated_at     timestamptz not null default now(),
  primary key (portal, method)
);
