import { errors, isoWithOffset } from '../envelope.js';
import { UTM } from './company.js';
import { entityMethods, isBlank, type EntitySpec } from './entity.js';
import { asPortalString, idParam, isObject, knownFields, positiveInt, type Handler } from './method.js';

/** crm.deal.* (DOCS api-reference/crm/deals/); CONTACT_IDS is write-only like a contact's COMPANY_IDS. */
export const dealSpec: EntitySpec = {
  owner: 'DEAL',
  table: 'deal',
  writable: new Set([
    'TITLE', 'TYPE_ID', 'CATEGORY_ID', 'STAGE_ID', 'CURRENCY_ID', 'OPPORTUNITY', 'IS_MANUAL_OPPORTUNITY', 'TAX_VALUE',
    'COMPANY_ID', 'CONTACT_ID', 'CONTACT_IDS', 'BEGINDATE', 'CLOSEDATE', 'OPENED', 'CLOSED', 'COMMENTS', 'ASSIGNED_BY_ID',
    'SOURCE_ID', 'SOURCE_DESCRIPTION', 'ORIGINATOR_ID', 'ORIGIN_ID', 'IS_RETURN_CUSTOMER', 'PROBABILITY', ...UTM,
  ]),
  notFound: 'Deal is not found',
  defaults(id, ctx, fields) {
    const category = positiveInt(fields.CATEGORY_ID) ?? 0;
    const day = (offsetDays: number) => isoWithOffset(new Date(Date.UTC(ctx.now.getFullYear(), ctx.now.getMonth(), ctx.now.getDate() + offsetDays) + ctx.now.getTimezoneOffset() * 60_000));
    const contacts = Array.isArray(fields.CONTACT_IDS) ? fields.CONTACT_IDS : [];
    return {
      TYPE_ID: 'SALE', CATEGORY_ID: String(category), STAGE_ID: category === 0 ? 'NEW' : `C${category}:NEW`,
      CURRENCY_ID: 'RUB', OPPORTUNITY: '0.00', IS_MANUAL_OPPORTUNITY: 'N', BEGINDATE: day(0), CLOSEDATE: day(7),
      OPENED: 'Y', CLOSED: 'N', PROBABILITY: null,
      CONTACT_ID: contacts.length ? asPortalString(contacts[0]) : null,
    };
  },
  completeOnAdd(stored, id) {
    if (isBlank(stored.TITLE)) stored.TITLE = `Сделка #${id}`;
  },
};

const ROW_FIELDS = new Set([
  'PRODUCT_ID', 'PRODUCT_NAME', 'PRICE', 'PRICE_EXCLUSIVE', 'PRICE_NETTO', 'PRICE_BRUTTO', 'QUANTITY', 'DISCOUNT_TYPE_ID',
  'DISCOUNT_RATE', 'DISCOUNT_SUM', 'TAX_RATE', 'TAX_INCLUDED', 'MEASURE_CODE', 'MEASURE_NAME', 'SORT',
]);

export const dealMethods: Record<string, Handler> = {
  ...entityMethods('crm.deal', dealSpec),
  /** Replaces all rows; rows left out are deleted (crm-deal-productrows-set.md). */
  async 'crm.deal.productrows.set'(ctx, params) {
    const id = idParam(params);
    const { rows: deals } = await ctx.db.query<{ fields: Record<string, unknown> }>('select fields from deal where id = $1 for update', [id]);
    if (!deals[0]) throw errors.notFound();
    const given = Array.isArray(params.rows) ? params.rows : isObject(params.rows) ? Object.values(params.rows) : [];
    await ctx.db.query('delete from deal_product_row where deal_id = $1', [id]);
    let sum = 0;
    for (const [i, raw] of given.filter(isObject).entries()) {
      const row = knownFields(raw, ROW_FIELDS);
      const price = Number(row.PRICE ?? 0);
      const quantity = Number(row.QUANTITY ?? 1);
      sum += (Number.isFinite(price) ? price : 0) * (Number.isFinite(quantity) ? quantity : 0);
      const stored = {
        PRODUCT_ID: '0', PRICE: '0', QUANTITY: '1', DISCOUNT_TYPE_ID: '2', DISCOUNT_RATE: '0', DISCOUNT_SUM: '0', TAX_RATE: null,
        TAX_INCLUDED: 'N', MEASURE_CODE: '796', MEASURE_NAME: 'шт', SORT: String((i + 1) * 10), ...row,
      };
      await ctx.db.query('insert into deal_product_row (deal_id, fields) values ($1, $2)', [id, stored]);
    }
    // the deal's amount follows its rows unless a manager set it by hand
    if (deals[0].fields.IS_MANUAL_OPPORTUNITY !== 'Y') {
      await ctx.db.query(`update deal set fields = fields || jsonb_build_object('OPPORTUNITY', $2::text) where id = $1`, [id, sum.toFixed(2)]);
    }
    return { result: true };
  },
  async 'crm.deal.productrows.get'(ctx, params) {
    const id = idParam(params);
    const { rowCount } = await ctx.db.query('select 1 from deal where id = $1', [id]);
    if (!rowCount) throw errors.notFound();
    const { rows } = await ctx.db.query<{ id: string; fields: Record<string, unknown> }>('select id, fields from deal_product_row where deal_id = $1 order by id', [id]);
    return { result: rows.map((r) => ({ ID: r.id, OWNER_ID: String(id), OWNER_TYPE: 'D', ...r.fields })) };
  },
};
