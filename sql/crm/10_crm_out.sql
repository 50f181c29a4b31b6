-- What the CRM is to hold, in Bitrix24's terms. The push compares each row's out_hash with
-- the one it last pushed (etl.crm_link.pushed_hash): only rows whose hash differs travel.

-- Grain: one row per canonical company that may go to the CRM (ready: the registry says
-- ACTIVE, and not deleted): the company, its requisite (preset by INN length: a 10-digit INN
-- is an organisation, 12 digits an individual entrepreneur), bank detail and legal address.
create or replace view etl.crm_company_out as
with ready as (
  select c.*, r.full_name as registry_full_name,
    length(c.inn) = 12 as is_individual,
    -- an entrepreneur's name without the form in front of it: Иванов Иван Иванович
    regexp_replace(coalesce(r.full_name, c.name, ''), '^\s*(ИП|Индивидуальный предприниматель)\s+', '', 'i') as person_name
  from canonical.company c
  left join etl.registry_lookup r on r.inn = c.inn
  where c.is_ready and not c.is_deleted
),

final as (
  select
    company_id,
    inn,
    coalesce(name, inn) as title,
    phones,
    emails,
    case when is_individual then 'individual' else 'company' end as preset,
    case when is_individual then null else kpp end as rq_kpp,
    case when not is_individual then ogrn end as rq_ogrn,
    case when is_individual then ogrn end as rq_ogrnip,
    coalesce(name, inn) as rq_company_name,
    coalesce(registry_full_name, name) as rq_company_full_name,
    case when is_individual then etl.fio_part(person_name, 1) end as rq_last_name,
    case when is_individual then etl.fio_part(person_name, 2) end as rq_first_name,
    case when is_individual then etl.fio_part(person_name, 3) end as rq_second_name,
    bank_bik,
    bank_account,
    bank_corr_account,
    bank_name,
    legal_address
  from ready
)

select final.*, md5(row(final.*)::text)::uuid as out_hash from final;

-- Grain: one row per canonical contact of a company in etl.crm_company_out.
create or replace view etl.crm_contact_out as
with final as (
  select
    ct.contact_id,
    ct.company_id,
    ct.first_name,
    ct.last_name,
    ct.middle_name,
    ct.position,
    ct.phones,
    ct.emails
  from canonical.contact ct
  join canonical.company c on c.company_id = ct.company_id
  where not ct.is_deleted and c.is_ready and not c.is_deleted
)

select final.*, md5(row(final.*)::text)::uuid as out_hash from final;

-- Grain: one row per canonical deal of a company in etl.crm_company_out: the deal with its
-- product rows (name, price, quantity; no catalog products). Its amount is the order's total,
-- set by hand in the CRM (IS_MANUAL_OPPORTUNITY), so rows that do not add up to it leave it as
-- billed. The contact goes with it when the contact is one of the company's in the CRM's view.
create or replace view etl.crm_deal_out as
with final as (
  select
    d.deal_id,
    d.company_id,
    ct.contact_id,
    d.title,
    d.stage_id,
    d.outcome,
    d.amount,
    d.currency,
    d.begin_at,
    d.close_at,
    d.source,
    d.source_key,
    (select coalesce(jsonb_agg(jsonb_build_object('name', i.name, 'price', i.price, 'quantity', i.quantity) order by i.line_no), '[]')
     from canonical.deal_item i where i.deal_id = d.deal_id) as rows
  from canonical.deal d
  join canonical.company c on c.company_id = d.company_id
  left join canonical.contact ct on ct.contact_id = d.contact_id and not ct.is_deleted
  where not d.is_deleted and c.is_ready and not c.is_deleted
)

select final.*, md5(row(final.*)::text)::uuid as out_hash from final;
