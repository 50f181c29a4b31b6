-- Orders, the third entity: landed raw like companies and contacts, cleaned and linked in
-- SQL into canonical.deal (one row per source order) and canonical.deal_item.

alter table staging.batch drop constraint batch_entity_check;
alter table staging.batch add constraint batch_entity_check check (entity in ('company', 'contact', 'order'));
alter table staging.record drop constraint record_entity_check;
alter table staging.record add constraint record_entity_check check (entity in ('company', 'contact', 'order'));
alter table etl.mysql_position drop constraint mysql_position_entity_check;
alter table etl.mysql_position add constraint mysql_position_entity_check check (entity in ('company', 'contact', 'order'));

-- Grain: one row per (source, order status). What each store's status means in the CRM: the
-- Bitrix24 deal stage (STAGE_ID of the default pipeline) and whether the deal is open, won or
-- lost. Analysts edit it; an order whose status has no row here is rejected stage_unmapped,
-- and an edit takes effect on the orders of that status at the next transform.
create table etl.deal_stage_map (
  source         text not null,
  source_status  text not null,
  stage_id       text not null,
  outcome        text not null check (outcome in ('open', 'won', 'lost')),
  primary key (source, source_status)
);
comment on table etl.deal_stage_map is 'order status per store -> Bitrix24 deal stage and outcome; edit freely, the next transform applies it';
insert into etl.deal_stage_map (source, source_status, stage_id, outcome) values
  ('store_a', 'new', 'NEW', 'open'),
  ('store_a', 'processing', 'EXECUTING', 'open'),
  ('store_a', 'shipped', 'FINAL_INVOICE', 'open'),
  ('store_a', 'completed', 'WON', 'won'),
  ('store_a', 'cancelled', 'LOSE', 'lost'),
  ('store_a', 'returned', 'APOLOGY', 'lost'),
  ('store_b', 'created', 'NEW', 'open'),
  ('store_b', 'paid', 'EXECUTING', 'open'),
  ('store_b', 'delivered', 'WON', 'won'),
  ('store_b', 'canceled', 'LOSE', 'lost');

-- The statuses whose mapping changed since the last transform (filled by a trigger): their
-- orders are recomputed, as registry answers recompute their companies.
create table etl.deal_stage_changed (
  source         text not null,
  source_status  text not null,
  primary key (source, source_status)
);
create function etl.note_stage_change() returns trigger language plpgsql as $$
begin
  if tg_op in ('UPDATE', 'DELETE') then
    insert into etl.deal_stage_changed values (old.source, old.source_status) on conflict do nothing;
  end if;
  if tg_op in ('UPDATE', 'INSERT') then
    insert into etl.deal_stage_changed values (new.source, new.source_status) on conflict do nothing;
  end if;
  return null;
end
$$;
create trigger deal_stage_map_changed after insert or update or delete on etl.deal_stage_map
  for each row execute function etl.note_stage_change();

-- Current cleaned version of each source order and its verdict (as etl.source_contact).
create table etl.source_order (
  source             text not null,
  source_key         text not null,
  staging_id         bigint not null,
  number             text,
  company_source     text,
  company_key        text,
  company_id         bigint,
  contact_key        text,
  contact_id         bigint,
  status             text,
  stage_id           text,
  outcome            text,
  amount             numeric(16, 2),
  items_amount       numeric(16, 2),
  currency           text,
  created_at         timestamptz,
  closed_at          timestamptz,
  items              jsonb not null default '[]',
  source_updated_at  timestamptz,
  is_deleted         boolean not null default false,
  is_accepted        boolean not null,
  primary key (source, source_key)
);
create index source_order_company_key_idx on etl.source_order (company_source, company_key);
create index source_order_contact_key_idx on etl.source_order (company_source, contact_key);
create index source_order_status_idx on etl.source_order (source, status);

-- Grain: one row per source order that was ever accepted. A deal whose order was deleted at
-- the source or stopped being accepted is marked deleted, never erased (the CRM keeps it).
create table canonical.deal (
  deal_id       bigserial primary key,
  source        text not null,
  source_key    text not null,
  number        text,
  title         text not null,
  company_id    bigint not null references canonical.company,
  contact_id    bigint references canonical.contact,
  stage_id      text not null,
  outcome       text not null,
  amount        numeric(16, 2) not null,
  currency      text not null,
  begin_at      timestamptz not null,
  close_at      timestamptz,
  is_deleted    boolean not null default false,
  row_hash      uuid,
  first_seen_at timestamptz not null default now(),
  updated_at    timestamptz not null default now(),
  unique (source, source_key)
);
create index deal_company_idx on canonical.deal (company_id);
create index deal_contact_idx on canonical.deal (contact_id);

-- Grain: one row per line of a deal's order, in the order's order.
create table canonical.deal_item (
  deal_id   bigint not null references canonical.deal,
  line_no   integer not null,
  sku       text,
  name      text not null,
  quantity  numeric(14, 3) not null,
  price     numeric(16, 2) not null,
  primary key (deal_id, line_no)
);

-- Views for analysts over the deals (sql/analytics/, re-created on every migrate).
create schema analytics;
