import { findByInn } from './companies.js';
import type { PushContext } from './context.js';
import type { CompanyOut } from './fields.js';

export interface PushPlan {
  company: { create: number; adopt: number; update: number; unchanged: number; deleted: number };
  contact: { create: number; update: number; unchanged: number; checkedFirst: number; deleted: number; waiting: number };
  /** A few of each, to see what a push would do: "INN title". */
  examples: { create: string[]; adopt: string[]; update: string[] };
  /** The companies to create, for the estimate. */
  toCreate: CompanyOut[];
  /** Companies looked up by INN before they are created or adopted. */
  lookedUp: number;
}

/**
 * What a push would do, without writing to the portal: new companies are looked up by INN
 * (reads only) to tell those it would adopt from those it would create; changed rows are those
 * whose content differs from what was pushed. New contacts of companies already in the CRM
 * (adopted now, or linked by an earlier push: a manager may have added their people) are
 * looked for by phone and e-mail at push time (counted as checkedFirst).
 */
export async function planPush(ctx: PushContext): Promise<PushPlan> {
  const portal = ctx.links.portal;
  const { rows: newCompanies } = await ctx.pool.query<CompanyOut>(
    `select o.*, o.company_id::text as company_id from etl.crm_company_out o
     left join etl.crm_link l on l.portal = $1 and l.entity = 'company' and l.canonical_id = o.company_id
     where l.canonical_id is null or (l.state <> 'linked' and l.bitrix_id is null)
     order by o.company_id`, [portal]);
  const existing = await findByInn(ctx, newCompanies);
  const { rows: [counts] } = await ctx.pool.query<Record<string, string>>(`
    with company as (
      select o.company_id, o.inn, o.title, l.state, l.pushed_hash = o.out_hash as same
      from etl.crm_company_out o
      left join etl.crm_link l on l.portal = $1 and l.entity = 'company' and l.canonical_id = o.company_id
    ),
    contact as (
      select o.contact_id, o.company_id, l.state, l.pushed_hash = o.out_hash as same
      from etl.crm_contact_out o
      left join etl.crm_link l on l.portal = $1 and l.entity = 'contact' and l.canonical_id = o.contact_id
    )
    select
      (select count(*) from company where state = 'linked' and not same) as company_update,
      (select count(*) from company where state = 'linked' and same) as company_unchanged,
      (select count(*) from contact where state = 'linked' and not same) as contact_update,
      (select count(*) from contact where state = 'linked' and same) as contact_unchanged,
      (select count(*) from contact c where (c.state is null or c.state in ('sending', 'failed'))
         and not exists (select from company co where co.company_id = c.company_id and co.state = 'deleted')) as contact_new,
      (select count(*) from contact c where (c.state is null or c.state in ('sending', 'failed'))
         and (c.company_id = any($2::bigint[]) or exists (select from company co where co.company_id = c.company_id and co.state = 'linked'))) as contact_checked,
      (select count(*) from company where state = 'deleted') as company_deleted,
      (select count(*) from contact where state = 'deleted') as contact_deleted,
      (select count(*) from contact c where (c.state is null or c.state <> 'deleted')
         and exists (select from company co where co.company_id = c.company_id and co.state = 'deleted')) as contact_waiting,
      (select string_agg(inn || ' ' || title, '\n' order by company_id) from (select * from company where state = 'linked' and not same order by company_id limit 10) u) as update_examples`,
    [portal, newCompanies.filter((c) => existing.has(c.inn)).map((c) => c.company_id)]);
  const adopt = newCompanies.filter((c) => existing.has(c.inn));
  const create = newCompanies.filter((c) => !existing.has(c.inn));
  const label = (c: CompanyOut) => `${c.inn} ${c.title}`;
  return {
    company: {
      create: create.length, adopt: adopt.length, update: Number(counts!.company_update), unchanged: Number(counts!.company_unchanged),
      deleted: Number(counts!.company_deleted),
    },
    contact: {
      create: Number(counts!.contact_new) - Number(counts!.contact_checked), update: Number(counts!.contact_update),
      unchanged: Number(counts!.contact_unchanged), checkedFirst: Number(counts!.contact_checked),
      deleted: Number(counts!.contact_deleted), waiting: Number(counts!.contact_waiting),
    },
    toCreate: create,
    lookedUp: newCompanies.length,
    examples: {
      create: create.slice(0, 10).map(label),
      adopt: adopt.slice(0, 10).map((c) => `${label(c)} → CRM company ${existing.get(c.inn)!.companyId}`),
      update: counts!.update_examples ? counts!.update_examples.split('\n') : [],
    },
  };
}
