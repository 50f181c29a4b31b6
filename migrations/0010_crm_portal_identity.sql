-- A portal is one portal whatever address reaches it: a custom domain, another port, a
-- webhook re-created for another user. Links, the memory of what was pushed and the shared
-- request bucket belong to the portal, known by a name; the addresses that reached it point
-- at that name. A portal's name is the first address it was reached at, unless the config
-- names it (crm.portal); an address it was never reached at before is recognised by the
-- entities it holds (etl.crm_link of which portal names them).

-- Grain: one row per portal this warehouse pushes to.
create table etl.crm_portal (
  portal      text primary key,              -- its name: etl.crm_link, crm_pacing, crm_push_run and crm_push_error hold it
  created_at  timestamptz not null default now()
);

-- Grain: one row per address (host[:port] of a webhook URL) a portal was reached at.
create table etl.crm_portal_address (
  address        text primary key,
  portal         text not null references etl.crm_portal on update cascade,
  how            text not null check (how in ('first', 'recognised', 'configured')),
  first_seen_at  timestamptz not null default now(),
  last_seen_at   timestamptz not null default now()
);
create index crm_portal_address_portal_idx on etl.crm_portal_address (portal);

-- Every portal pushed to before is named by the address it was reached at (its host).
insert into etl.crm_portal (portal)
select portal from etl.crm_link union select portal from etl.crm_pacing union select portal from etl.crm_push_run
on conflict do nothing;
insert into etl.crm_portal_address (address, portal, how)
select portal, portal, 'first' from etl.crm_portal
on conflict do nothing;

-- When this warehouse created each entity (its clock, when the create was answered, or sent
-- when its answer was lost): with the CRM ids and our ORIGIN_IDs it tells a portal reached at
-- a new address from another portal loaded the same way, whose ids and ORIGIN_IDs are the same
-- but whose DATE_CREATE is not. Rows from before: the last push, which for a row never updated
-- since is its creation.
alter table etl.crm_link add column created_at timestamptz;
update etl.crm_link set created_at = pushed_at where how = 'created' and bitrix_id is not null;

-- What a manager deleted in the CRM stays deleted: the link keeps its Bitrix ids in state
-- 'deleted', with when the push noticed; its contacts wait; a person brings it back
-- (b2b-etl crm restore) or lets it go (b2b-etl crm let-go: it stays out of the CRM and is no
-- longer reported).
alter table etl.crm_link drop constraint crm_link_state_check;
alter table etl.crm_link add constraint crm_link_state_check check (state in ('sending', 'linked', 'failed', 'deleted'));
alter table etl.crm_link add column deleted_at timestamptz;
alter table etl.crm_link add column let_go_at timestamptz;

-- Links an earlier push found gone from the CRM were kept as failed, with the reason.
update etl.crm_link set state = 'deleted', deleted_at = coalesce(pushed_at, intent_at, now())
where state = 'failed' and bitrix_id is not null and last_error like '%is gone from the CRM%';

comment on column etl.crm_link.portal is 'the portal''s name (etl.crm_portal), never a secret';
comment on column etl.crm_link.deleted_at is 'when a push found the entity deleted in the CRM; it is not created again unless a person restores it';
comment on column etl.crm_link.created_at is 'when this warehouse created the entity in the CRM (its clock): compared with the CRM''s DATE_CREATE to recognise the portal at a new address';
comment on column etl.crm_link.let_go_at is 'when a person let a deleted entity go: it stays out of the CRM and is no longer reported';
comment on table etl.crm_operating is 'one row per (portal name/webhook user, method): the portal counts execution time per webhook and method';
