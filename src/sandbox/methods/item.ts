import { RestError } from '../envelope.js';
import { createEntity, entityListSpec, exists, readEntities, updateEntity } from './entity.js';
import { itemTypeOf, legacyName, toItem, toLegacy, type ItemType } from './item-fields.js';
import { filterPrefix, listRows } from './list.js';
import { isObject, param, positiveInt, type Handler, type MethodContext, type Params } from './method.js';

const notFound = () => new RestError(400, 'NOT_FOUND', 'Элемент не найден');
const invalidArgument = (description: string) => new RestError(400, 'INVALID_ARG_VALUE', description);

/** Each entity's links, which the legacy reads leave out: a contact's companies, a company's contacts, a deal's contacts. */
async function linksOf(ctx: MethodContext, type: ItemType, ids: number[]): Promise<Map<number, number[]>> {
  const query = {
    2: `select id as owner, coalesce((select array_agg(v::bigint) from jsonb_array_elements_text(case jsonb_typeof(fields -> 'CONTACT_IDS')
          when 'array' then fields -> 'CONTACT_IDS' else '[]' end) as v), '{}') as linked from deal where id = any($1::bigint[])`,
    3: 'select contact_id as owner, array_agg(company_id order by sort, company_id) as linked from contact_company where contact_id = any($1::bigint[]) group by contact_id',
    4: 'select company_id as owner, array_agg(contact_id order by contact_id) as linked from contact_company where company_id = any($1::bigint[]) group by company_id',
  }[type.entityTypeId]!;
  const { rows } = await ctx.db.query<{ owner: string; linked: string[] }>(query, [ids]);
  return new Map(rows.map((r) => [Number(r.owner), r.linked.map(Number)]));
}

/** The entities as crm.item answers them, in the order of `ids`. */
async function readItems(ctx: MethodContext, type: ItemType, ids: number[]): Promise<Array<Record<string, unknown>>> {
  const entities = await readEntities(ctx, type.spec, ids, true);
  const links = await linksOf(ctx, type, ids);
  const linkField = type.entityTypeId === 3 ? 'COMPANY_IDS' : 'CONTACT_IDS';
  return ids.map((id) => toItem(type, { ...entities.get(id), [linkField]: links.get(id) ?? [] }));
}

async function readItem(ctx: MethodContext, type: ItemType, id: number): Promise<Record<string, unknown>> {
  if (!(await exists(ctx, type.spec, id))) throw notFound();
  return (await readItems(ctx, type, [id]))[0]!;
}

/** filter and order in camelCase as the legacy list reads them; a field the type lacks is INVALID_ARG_VALUE (crm-item-list.md). */
function legacyListParams(type: ItemType, params: Params): Params {
  const filter = param(params, 'filter');
  const order = param(params, 'order');
  const translate = (entries: Record<string, unknown>, what: 'filter' | 'order') =>
    Object.fromEntries(Object.entries(entries).map(([key, value]) => {
      const { prefix, name } = what === 'filter' ? filterPrefix(key) : { prefix: '', name: key };
      const legacy = legacyName(type, name);
      if (legacy === null) throw invalidArgument(`Invalid ${what}: field '${name}' is not allowed in ${what}`);
      return [`${prefix}${legacy}`, value];
    }));
  return {
    filter: isObject(filter) ? translate(filter, 'filter') : {},
    order: isObject(order) ? translate(order, 'order') : {},
    start: params.start,
  };
}

/** `select` of crm.item.list, names as written; none is `*`. */
function selectOf(params: Params): string[] {
  const select = param(params, 'select');
  const names = (Array.isArray(select) ? select : isObject(select) ? Object.values(select) : []).map(String);
  return names.length ? names : ['*'];
}

/** `*` is the whole item with `fm`; otherwise only the named fields the item has (`fm` cannot be named). */
function selected(item: Record<string, unknown>, select: string[]): Record<string, unknown> {
  if (select.includes('*')) return item;
  return Object.fromEntries(select.filter((name) => name in item && name !== 'fm').map((name) => [name, item[name]]));
}

/**
 * crm.item.add, get, update and list for deals (2), contacts (3) and companies (4), kept in
 * the same rows as the legacy methods (DOCS crm/universal/): camelCase, typed values, the
 * answer under `item` or `items`. List pages are ORM pages: `start` is taken as given.
 */
export const itemMethods: Record<string, Handler> = {
  async 'crm.item.add'(ctx, params) {
    const type = itemTypeOf(params);
    const fields = isObject(params.fields) ? params.fields : {};
    const id = await createEntity(ctx, type.spec, toLegacy(type, fields), { api: 'item' });
    return { result: { item: await readItem(ctx, type, id) } };
  },
  async 'crm.item.get'(ctx, params) {
    const type = itemTypeOf(params);
    const id = positiveInt(params.id);
    if (id === null) throw notFound();
    return { result: { item: await readItem(ctx, type, id) } };
  },
  async 'crm.item.update'(ctx, params) {
    const type = itemTypeOf(params);
    const id = positiveInt(params.id);
    if (id === null || !(await exists(ctx, type.spec, id))) throw notFound();
    await updateEntity(ctx, type.spec, id, toLegacy(type, isObject(params.fields) ? params.fields : {}));
    return { result: { item: await readItem(ctx, type, id) } };
  },
  async 'crm.item.list'(ctx, params) {
    const type = itemTypeOf(params);
    const ids: number[] = [];
    const page = await listRows(ctx.db, { ...entityListSpec(type.spec), roundOffset: false, toRow: (row) => (ids.push(Number(row.id)), {}) }, legacyListParams(type, params));
    const select = selectOf(params);
    const items = (await readItems(ctx, type, ids)).map((item) => selected(item, select));
    return { ...page, result: { items } };
  },
};
