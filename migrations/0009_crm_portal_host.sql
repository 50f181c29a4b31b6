-- A portal is its host: every webhook of a portal sees the same CRM, and the portal keeps one
-- request bucket per client address whichever webhook calls. Links and the shared bucket are
-- keyed by the host; execution time stays per webhook (host/user), as the portal counts it.
-- Links and buckets written under host/user before are moved to the host (where the host has
-- none of its own already).
update etl.crm_link l set portal = split_part(l.portal, '/', 1)
where l.portal like '%/%'
  and not exists (select from etl.crm_link h where h.portal = split_part(l.portal, '/', 1) and h.entity = l.entity and h.canonical_id = l.canonical_id);
update etl.crm_pacing p set portal = split_part(p.portal, '/', 1)
where p.portal like '%/%' and not exists (select from etl.crm_pacing h where h.portal = split_part(p.portal, '/', 1));

-- What an add in flight carries (set before it is sent): when its answer is lost, the entity
-- found in the CRM afterwards holds these values, not whatever the canonical row says by then.
alter table etl.crm_link add column intent jsonb;

comment on column etl.crm_link.portal is 'the portal''s host, never a secret';
comment on column etl.crm_link.intent is 'what an add in flight carries: what the CRM holds if the add was done';
comment on column etl.crm_link.intent_at is 'when the answer of a write about this row was last awaited; it is looked up once the portal cannot still be running it';
comment on table etl.crm_operating is 'one row per (webhook as host/user, method): the portal counts execution time per webhook and method';
