-- A client looks companies up by INN before it creates them (crm.requisite.list filtered by
-- RQ_INN, many INNs at once). List filters read the stored fields (fields ->> 'RQ_INN'),
-- which the index on the generated column rq_inn does not serve: without this one, every
-- lookup read every requisite, and a push of 100 000 companies slowed as the portal filled.
create index requisite_rq_inn_lookup on requisite ((fields ->> 'RQ_INN'));
