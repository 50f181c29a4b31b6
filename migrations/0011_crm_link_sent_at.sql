-- When the write carrying a 'sending' row left for the portal (null: claimed, never sent). A
-- row a push that died claimed and never sent cannot be in the CRM: it is released without a
-- lookup, and only what was sent is waited for and looked up. Rows from before were sent.
alter table etl.crm_link add column sent_at timestamptz;
update etl.crm_link set sent_at = coalesce(intent_at, now()) where state = 'sending';

comment on column etl.crm_link.sent_at is 'when the write carrying a sending row left for the portal; null: claimed and never sent';
