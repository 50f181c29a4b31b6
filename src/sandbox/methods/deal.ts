import { crmError, errors, isoWithOffset, RestError } from '../envelope.js';
import { UTM } from './company.js';
import { entityMethods, isBlank, type EntitySpec } from './entity.js';
import { asPortalString, idParam, isObject, knownFields, positiveInt, type Handler, type MethodContext } from './method.js';

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
  /** An update's CONTACT_IDS replaces the deal's contacts: CONTACT_ID is the first of them (none: empty). */
  async afterWrite(ctx, id, fields, created) {
    if (created || !Array.isArray(fields.CONTACT_IDS)) return;
    await setContacts(ctx, id, contactIds(fields.CONTACT_IDS));
  },
};

const contactIds = (list: unknown[]) => list.map(positiveInt).filter((c): c is number => c !== null);

/** The deal's contacts as stored: CONTACT_IDS, or the CONTACT_ID alone of a deal created with that only; null: no such deal. */
async function contactsOf(ctx: MethodContext, id: number): Promise<number[] | null> {
  const { rows } = await ctx.db.query<{ fields: Record<string, unknown> }>('select fields from deal where id = $1 for update', [id]);
  if (!rows[0]) return null;
  const { CONTACT_IDS: ids, CONTACT_ID: primary } = rows[0].fields;
  return contactIds(Array.isArray(ids) ? ids : [primary]);
}

async function setContacts(ctx: MethodContext, id: number, contacts: number[]): Promise<void> {
  await ctx.db.query(`update deal set fields = fields || jsonb_build_object('CONTACT_IDS', $2::jsonb, 'CONTACT_ID', $3::text) where id = $1`,
    [id, JSON.stringify(contacts), contacts.length ? String(contacts[0]) : null]);
}

const ROW_FIELDS = new Set([
  'PRODUCT_ID', 'PRODUCT_NAME', 'PRICE', 'PRICE_EXCLUSIVE', 'PRICE_NETTO', 'PRICE_BRUTTO', 'QUANTITY', 'DISCOUNT_TYPE_ID',
  'DISCOUNT_RATE', 'DISCOUNT_SUM', 'TAX_RATE', 'TAX_INCLUDED', 'MEASURE_CODE', 'MEASURE_NAME', 'SORT',
]);

/**
 * A deal's rows replaced by `given` (legacy UPPER_CASE fields); the deal's amount follows its
 * rows unless it was set by hand (IS_MANUAL_OPPORTUNITY). Throws NOT_FOUND for no such deal.
 */
async function replaceRows(ctx: MethodContext, id: number, given: Array<Record<string, unknown>>): Promise<void> {
  const { rows: deals } = await ctx.db.query<{ fields: Record<string, unknown> }>('select fields from deal where id = $1 for update', [id]);
  if (!deals[0]) throw errors.notFound();
  await ctx.db.query('delete from deal_product_row where deal_id = $1', [id]);
  let sum = 0;
  for (const [i, raw] of given.entries()) {
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
  if (deals[0].fields.IS_MANUAL_OPPORTUNITY !== 'Y') {
    await ctx.db.query(`update deal set fields = fields || jsonb_build_object('OPPORTUNITY', $2::text) where id = $1`, [id, sum.toFixed(2)]);
  }
}

/** crm.item.productrow.* names a row's fields in camelCase, numbers typed (crm_item_productrow_get). */
const ROW_ITEM_FIELDS: Record<string, string> = {
  productId: 'PRODUCT_ID', productName: 'PRODUCT_NAME', price: 'PRICE', priceExclusive: 'PRICE_EXCLUSIVE', priceNetto: 'PRICE_NETTO',
  priceBrutto: 'PRICE_BRUTTO', quantity: 'QUANTITY', discountTypeId: 'DISCOUNT_TYPE_ID', discountRate: 'DISCOUNT_RATE',
  discountSum: 'DISCOUNT_SUM', taxRate: 'TAX_RATE', taxIncluded: 'TAX_INCLUDED', measureCode: 'MEASURE_CODE', measureName: 'MEASURE_NAME', sort: 'SORT',
};
const NUMERIC_ROW_FIELDS = new Set(['productId', 'price', 'priceExclusive', 'priceNetto', 'priceBrutto', 'quantity', 'discountTypeId', 'discountRate', 'discountSum', 'taxRate', 'measureCode', 'sort']);

/** The rows of a deal as crm.item.productrow.list answers them. */
async function itemRows(ctx: MethodContext, id: number): Promise<Array<Record<string, unknown>>> {
  const { rows } = await ctx.db.query<{ id: string; fields: Record<string, unknown> }>('select id, fields from deal_product_row where deal_id = $1 order by id', [id]);
  return rows.map((r) => {
    const row: Record<string, unknown> = { id: Number(r.id), ownerId: id, ownerType: 'D' };
    for (const [name, legacy] of Object.entries(ROW_ITEM_FIELDS)) {
      const value = r.fields[legacy];
      row[name] = value === null || value === undefined ? null : NUMERIC_ROW_FIELDS.has(name) ? Number(value) : value;
    }
    return row;
  });
}

/** The owner of crm.item.productrow.*: deals only here ('D'); another type is refused as the portal refuses an owner it cannot find. */
function dealOwner(ownerType: unknown, ownerId: unknown): number {
  const id = positiveInt(ownerId);
  if (String(ownerType ?? '').toUpperCase() !== 'D' || id === null) throw errors.notFound();
  return id;
}

export const dealMethods: Record<string, Handler> = {
  ...entityMethods('crm.deal', dealSpec),
  /** Replaces all rows; rows left out are deleted (crm-deal-productrows-set.md). */
  async 'crm.deal.productrows.set'(ctx, params) {
    const id = idParam(params);
    const given = Array.isArray(params.rows) ? params.rows : isObject(params.rows) ? Object.values(params.rows) : [];
    await replaceRows(ctx, id, given.filter(isObject));
    return { result: true };
  },
  /** Replaces all rows of the owner with `productRows` (camelCase) and answers as crm.item.productrow.list does (crm_item_productrow_set). */
  async 'crm.item.productrow.set'(ctx, params) {
    const id = dealOwner(params.ownerType, params.ownerId);
    const given = Array.isArray(params.productRows) ? params.productRows : isObject(params.productRows) ? Object.values(params.productRows) : [];
    const legacy = given.filter(isObject).map((row) => Object.fromEntries(Object.entries(row)
      .filter(([name]) => name in ROW_ITEM_FIELDS).map(([name, value]) => [ROW_ITEM_FIELDS[name]!, value === null ? null : String(value)])));
    await replaceRows(ctx, id, legacy);
    return { result: { productRows: await itemRows(ctx, id) } };
  },
  /** The rows of the owner the filter's =ownerType and =ownerId name (both required), as {productRows: [...]}. */
  async 'crm.item.productrow.list'(ctx, params) {
    const filter = isObject(params.filter) ? params.filter : {};
    const ownerType = filter['=ownerType'] ?? filter.ownerType;
    const ownerId = filter['=ownerId'] ?? filter.ownerId;
    if (ownerType === undefined || ownerId === undefined) throw new RestError(400, 'INVALID_ARG_VALUE', 'filter must have =ownerType and =ownerId');
    const id = dealOwner(ownerType, ownerId);
    const { rowCount } = await ctx.db.query('select 1 from deal where id = $1', [id]);
    if (!rowCount) return { result: { productRows: [] } };
    return { result: { productRows: await itemRows(ctx, id) } };
  },
  /** Takes one contact off the deal (crm-deal-contact-delete.md: id, fields.CONTACT_ID); the others stay. */
  async 'crm.deal.contact.delete'(ctx, params) {
    const id = idParam(params);
    const contactId = isObject(params.fields) ? positiveInt(params.fields.CONTACT_ID) : null;
    if (contactId === null) throw crmError("The parameter 'fields' is not valid");
    const contacts = await contactsOf(ctx, id);
    if (contacts === null) throw errors.notFound();
    if (!contacts.includes(contactId)) return { result: false };
    await setContacts(ctx, id, contacts.filter((c) => c !== contactId));
    return { result: true };
  },
  /** Clears the set of contacts of the deal (crm-deal-contact-items-delete.md): CONTACT_ID empty, no CONTACT_IDS left. */
  async 'crm.deal.contact.items.delete'(ctx, params) {
    const id = idParam(params);
    if ((await contactsOf(ctx, id)) === null) throw errors.notFound();
    await setContacts(ctx, id, []);
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
