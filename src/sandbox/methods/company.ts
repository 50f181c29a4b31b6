import { phpFloat, type MethodContext } from './method.js';
import { entityMethods, isBlank, type EntitySpec } from './entity.js';

const UTM = ['UTM_SOURCE', 'UTM_MEDIUM', 'UTM_CAMPAIGN', 'UTM_CONTENT', 'UTM_TERM'];
const LEGACY_ADDRESS = ['', 'REG_'].flatMap((p) =>
  ['ADDRESS', 'ADDRESS_2', 'ADDRESS_CITY', 'ADDRESS_POSTAL_CODE', 'ADDRESS_REGION', 'ADDRESS_PROVINCE', 'ADDRESS_COUNTRY'].map((f) => p + f),
);

/** crm.company.* (DOCS api-reference/crm/companies/). */
export const companySpec: EntitySpec = {
  owner: 'COMPANY',
  table: 'company',
  writable: new Set([
    'TITLE', 'COMPANY_TYPE', 'INDUSTRY', 'EMPLOYEES', 'CURRENCY_ID', 'REVENUE', 'OPENED', 'ASSIGNED_BY_ID', 'COMMENTS',
    'IS_MY_COMPANY', 'ORIGINATOR_ID', 'ORIGIN_ID', 'ORIGIN_VERSION', 'BANKING_DETAILS', ...UTM, ...LEGACY_ADDRESS,
  ]),
  notFound: 'Company is not found',
  defaults: () => ({ COMPANY_TYPE: 'CUSTOMER', OPENED: 'Y', CURRENCY_ID: 'RUB', IS_MY_COMPANY: 'N' }),
  // CCrmCompany::Add names an unnamed company and reads REVENUE with floatval
  completeOnAdd(stored, id) {
    if (isBlank(stored.TITLE)) stored.TITLE = `Компания #${id}`;
    if (stored.REVENUE !== undefined && stored.REVENUE !== null) stored.REVENUE = String(phpFloat(stored.REVENUE));
  },
  // a company's requisites, their bank details and addresses go with it; contact links cascade
  async beforeDelete(ctx: MethodContext, id: number) {
    const { rows } = await ctx.db.query<{ id: string }>('delete from requisite where entity_type_id = 4 and entity_id = $1 returning id', [id]);
    const requisites = rows.map((r) => r.id);
    await ctx.db.query('delete from bank_detail where requisite_id = any($1::bigint[])', [requisites]);
    await ctx.db.query('delete from address where entity_type_id = 8 and entity_id = any($1::bigint[])', [requisites]);
  },
};

export const companyMethods = entityMethods('crm.company', companySpec);
export { UTM };
