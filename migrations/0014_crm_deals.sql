-- Deals go to the CRM as companies and contacts do: etl.crm_link links a canonical deal to its
-- CRM deal on each portal.
alter table etl.crm_link drop constraint crm_link_entity_check;
alter table etl.crm_link add constraint crm_link_entity_check check (entity in ('company', 'contact', 'deal'));
