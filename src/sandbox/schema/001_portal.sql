-- The sandbox portal's contents: what "the CRM" holds, and every call it received.
-- Applied by the sandbox itself into its own schema (search_path is set to it); the
-- warehouse's migrations never see it. One row per entity; the fields a client sent live in
-- `fields` as the portal would return them, a few generated columns make psql browsing easy.

create table portal_setting (
  key text primary key,
  value text not null
);

-- companies, contacts and deals: one row per entity; created_via says whether it came
-- through an *.add method or import mode (crm.item.import / batchImport)
create table company (
  id bigserial primary key,
  fields jsonb not null,
  created_via text not null check (created_via in ('add', 'import')),
  created_at timestamptz not null default now(),
  title text generated always as (fields ->> 'TITLE') stored,
  originator_id text generated always as (fields ->> 'ORIGINATOR_ID') stored,
  origin_id text generated always as (fields ->> 'ORIGIN_ID') stored
);

create table contact (
  id bigserial primary key,
  fields jsonb not null,
  created_via text not null check (created_via in ('add', 'import')),
  created_at timestamptz not null default now(),
  name text generated always as (
    btrim(coalesce(fields ->> 'LAST_NAME', '') || ' ' || coalesce(fields ->> 'NAME', '') || ' ' || coalesce(fields ->> 'SECOND_NAME', ''))) stored,
  originator_id text generated always as (fields ->> 'ORIGINATOR_ID') stored,
  origin_id text generated always as (fields ->> 'ORIGIN_ID') stored
);

create table deal (
  id bigserial primary key,
  fields jsonb not null,
  created_via text not null check (created_via in ('add', 'import')),
  created_at timestamptz not null default now(),
  title text generated always as (fields ->> 'TITLE') stored
);

-- one row per phone, e-mail, web or messenger value of a company or contact
create table multifield (
  id bigserial primary key,
  entity_id text not null check (entity_id in ('COMPANY', 'CONTACT')),
  element_id bigint not null,
  type_id text not null,
  value_type text not null,
  value text not null
);
create index multifield_element on multifield (entity_id, element_id);
create index multifield_value on multifield (type_id, value);

-- a contact's companies; the primary one is the contact's COMPANY_ID
create table contact_company (
  contact_id bigint not null references contact (id) on delete cascade,
  company_id bigint not null references company (id) on delete cascade,
  is_primary boolean not null,
  sort integer not null,
  primary key (contact_id, company_id)
);

create table requisite_preset (
  id bigint primary key,
  fields jsonb not null
);

create table requisite (
  id bigserial primary key,
  fields jsonb not null,
  entity_type_id integer generated always as ((fields ->> 'ENTITY_TYPE_ID')::integer) stored,
  entity_id bigint generated always as ((fields ->> 'ENTITY_ID')::bigint) stored,
  rq_inn text generated always as (fields ->> 'RQ_INN') stored
);
create index requisite_inn on requisite (rq_inn);

create table bank_detail (
  id bigserial primary key,
  fields jsonb not null,
  requisite_id bigint generated always as ((fields ->> 'ENTITY_ID')::bigint) stored
);

-- an address has no id of its own: it is identified by its type and owner, one per type
create table address (
  type_id integer not null,
  entity_type_id integer not null,
  entity_id bigint not null,
  fields jsonb not null,
  primary key (type_id, entity_type_id, entity_id)
);

create table deal_product_row (
  id bigserial primary key,
  deal_id bigint not null references deal (id) on delete cascade,
  fields jsonb not null
);

-- every HTTP request the portal answered (or refused, or dropped), and for a batch each
-- command in it
create table call (
  id bigserial primary key,
  at timestamptz not null,
  client text not null,
  method text not null,
  params jsonb not null,
  status integer not null,
  error text,
  error_description text,
  fault text,
  seconds double precision not null
);
create index call_method on call (method);

create table call_command (
  call_id bigint not null references call (id) on delete cascade,
  position integer not null,
  key text not null,
  method text not null,
  params jsonb not null,
  error text,
  error_description text,
  primary key (call_id, position)
);
create index call_command_method on call_command (method);
