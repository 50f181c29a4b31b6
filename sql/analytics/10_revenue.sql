-- Revenue for analysts, from canonical.deal: a sale is a won deal, its revenue the order's
-- total in its own currency (nothing is converted: a view sums one currency at a time).
-- Deals marked deleted (their order deleted at the source or no longer accepted) are left out.

drop view if exists analytics.deals_by_stage, analytics.cross_store_customers, analytics.repeat_customers,
  analytics.customer, analytics.revenue_by_company_year;

-- Grain: one row per (canonical company, year of the order, store, currency).
create view analytics.revenue_by_company_year as
select
  d.company_id,
  c.inn,
  c.name as company_name,
  extract(year from d.begin_at at time zone 'Europe/Moscow')::int as year,
  d.source as store,
  d.currency,
  count(*) as deals,
  count(*) filter (where d.outcome = 'won') as won_deals,
  coalesce(sum(d.amount) filter (where d.outcome = 'won'), 0) as revenue
from canonical.deal d
join canonical.company c using (company_id)
where not d.is_deleted
group by d.company_id, c.inn, c.name, 4, d.source, d.currency;
comment on view analytics.revenue_by_company_year is 'won revenue per company, year (Moscow time), store and currency';

-- Grain: one row per canonical company with at least one deal: its purchase history in short.
create view analytics.customer as
select
  d.company_id,
  c.inn,
  c.name as company_name,
  min(d.begin_at) as first_order_at,
  max(d.begin_at) as last_order_at,
  count(*) as deals,
  count(*) filter (where d.outcome = 'won') as won_deals,
  coalesce(sum(d.amount) filter (where d.outcome = 'won' and d.currency = 'RUB'), 0) as revenue_rub,
  array_agg(distinct d.currency order by d.currency) as currencies,
  array_agg(distinct d.source order by d.source) as stores,
  count(*) filter (where d.outcome = 'won') >= 2 as is_repeat,
  count(distinct d.source) filter (where d.outcome = 'won') >= 2 as bought_from_both
from canonical.deal d
join canonical.company c using (company_id)
where not d.is_deleted
group by d.company_id, c.inn, c.name;
comment on view analytics.customer is 'per company: first and last order, deals, won revenue in RUB, stores; is_repeat: two or more won deals';

-- Grain: one row per company that bought (won deals) more than once.
create view analytics.repeat_customers as
select * from analytics.customer where is_repeat;

-- Grain: one row per company that bought from both stores.
create view analytics.cross_store_customers as
select * from analytics.customer where bought_from_both;

-- Grain: one row per (store, stage, currency): how many deals sit where, and their amount.
create view analytics.deals_by_stage as
select d.source as store, d.stage_id, d.outcome, d.currency, count(*) as deals, sum(d.amount) as amount
from canonical.deal d
where not d.is_deleted
group by d.source, d.stage_id, d.outcome, d.currency;
