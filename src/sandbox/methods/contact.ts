import { crmError, errors } from '../envelope.js';
import { UTM } from './company.js';
import { entityMethods, isBlank, type EntitySpec } from './entity.js';
import { isObject, positiveInt, type Handler, type MethodContext } from './method.js';

interface Link {
  companyId: number;
  primary: boolean;
  sort: number;
}

function idList(value: unknown): number[] {
  const list = Array.isArray(value) ? value : isObject(value) ? Object.values(value) : [value];
  return list.map(positiveInt).filter((id): id is number => id !== null);
}

/** Replaces a contact's companies; without a primary one the first becomes primary. Unknown companies are dropped. */
async function setLinks(ctx: MethodContext, contactId: number, links: Link[]): Promise<void> {
  const { rows } = await ctx.db.query<{ id: string }>('select id from company where id = any($1::bigint[])', [links.map((l) => l.companyId)]);
  const known = new Set(rows.map((r) => Number(r.id)));
  const kept = links.filter((l, i) => known.has(l.companyId) && links.findIndex((o) => o.companyId === l.companyId) === i);
  if (kept.length && !kept.some((l) => l.primary)) kept[0]!.primary = true;
  const primary = kept.find((l) => l.primary);
  await ctx.db.query('delete from contact_company where contact_id = $1', [contactId]);
  for (const link of kept) {
    await ctx.db.query(
      'insert into contact_company (contact_id, company_id, is_primary, sort) values ($1, $2, $3, $4)',
      [contactId, link.companyId, link === primary, link.sort],
    );
  }
  await syncPrimary(ctx, contactId);
}

/** COMPANY_ID, as get and list return it, is the primary link. */
async function syncPrimary(ctx: MethodContext, contactId: number): Promise<void> {
  await ctx.db.query(
    `update contact set fields = jsonb_set(fields, '{COMPANY_ID}', coalesce(
       (select to_jsonb(company_id::text) from contact_company where contact_id = $1 and is_primary), 'null'::jsonb))
     where id = $1`,
    [contactId],
  );
}

async function readLinks(ctx: MethodContext, contactId: number): Promise<Link[]> {
  const { rows } = await ctx.db.query<{ company_id: string; is_primary: boolean; sort: number }>(
    'select company_id, is_primary, sort from contact_company where contact_id = $1 order by sort, company_id',
    [contactId],
  );
  return rows.map((r) => ({ companyId: Number(r.company_id), primary: r.is_primary, sort: r.sort }));
}

/** crm.contact.* (DOCS api-reference/crm/contacts/); COMPANY_IDS is write-only. */
export const contactSpec: EntitySpec = {
  owner: 'CONTACT',
  table: 'contact',
  writable: new Set([
    'HONORIFIC', 'NAME', 'SECOND_NAME', 'LAST_NAME', 'PHOTO', 'BIRTHDATE', 'TYPE_ID', 'SOURCE_ID', 'SOURCE_DESCRIPTION', 'POST',
    'COMMENTS', 'OPENED', 'EXPORT', 'ASSIGNED_BY_ID', 'COMPANY_ID', 'ORIGINATOR_ID', 'ORIGIN_ID', 'ORIGIN_VERSION', ...UTM,
  ]),
  notFound: 'Contact is not found',
  defaults: () => ({ TYPE_ID: 'CLIENT', SOURCE_ID: 'SELF', OPENED: 'Y', EXPORT: 'Y' }),
  // a contact without any name: CCrmContact::Add names it "Без имени"; crm.item.* puts
  // "Контакт #<id>" in the last name (object-fields.md)
  completeOnAdd(stored, id, api) {
    if (!['NAME', 'SECOND_NAME', 'LAST_NAME'].every((name) => isBlank(stored[name]))) return;
    if (api === 'legacy') stored.NAME = 'Без имени';
    else stored.LAST_NAME = `Контакт #${id}`;
  },
  async afterWrite(ctx, id, fields, created) {
    const ids = fields.COMPANY_IDS ?? fields.company_ids;
    const primary = positiveInt(fields.COMPANY_ID ?? fields.company_id);
    if (ids !== undefined) {
      const companies = idList(ids);
      if (primary !== null && !companies.includes(primary)) companies.unshift(primary);
      await setLinks(ctx, id, companies.map((companyId, i) => ({ companyId, primary: companyId === primary, sort: (i + 1) * 10 })));
    } else if (primary !== null) {
      const links = created ? [] : await readLinks(ctx, id);
      for (const link of links) link.primary = false;
      const existing = links.find((l) => l.companyId === primary);
      if (existing) existing.primary = true;
      else links.push({ companyId: primary, primary: true, sort: Math.max(0, ...links.map((l) => l.sort)) + 10 });
      await setLinks(ctx, id, links);
    } else if (created) {
      await syncPrimary(ctx, id);
    }
  },
};

async function contactExists(ctx: MethodContext, id: number): Promise<boolean> {
  const { rowCount } = await ctx.db.query('select 1 from contact where id = $1 for update', [id]);
  return (rowCount ?? 0) > 0;
}

function ownerId(params: Record<string, unknown>): number {
  const id = positiveInt(params.id ?? params.ID);
  if (id === null) throw crmError("The parameter 'ownerEntityID' is invalid or not defined.");
  return id;
}

export const contactMethods: Record<string, Handler> = {
  ...entityMethods('crm.contact', contactSpec),
  /** Replaces the whole set (crm-contact-company-items-set.md). */
  async 'crm.contact.company.items.set'(ctx, params) {
    const id = ownerId(params);
    const items = params.items;
    if (!Array.isArray(items) && !isObject(items)) throw crmError("The parameter 'items' is not valid");
    if (!(await contactExists(ctx, id))) throw errors.notFound();
    const list = (Array.isArray(items) ? items : Object.values(items)).filter(isObject);
    const links = list.map((item, i) => ({
      companyId: positiveInt(item.COMPANY_ID) ?? 0,
      primary: item.IS_PRIMARY === 'Y',
      sort: positiveInt(item.SORT) ?? (i + 1) * 10,
    }));
    await setLinks(ctx, id, links.filter((l) => l.companyId > 0));
    return { result: true };
  },
  async 'crm.contact.company.items.get'(ctx, params) {
    const id = ownerId(params);
    if (!(await contactExists(ctx, id))) throw errors.notFound();
    const links = await readLinks(ctx, id);
    return { result: links.map((l) => ({ COMPANY_ID: l.companyId, SORT: l.sort, ROLE_ID: 0, IS_PRIMARY: l.primary ? 'Y' : 'N' })) };
  },
  /** Adds one link; `false` when the company is already linked. */
  async 'crm.contact.company.add'(ctx, params) {
    const id = ownerId(params);
    const fields = params.fields;
    const companyId = isObject(fields) ? positiveInt(fields.COMPANY_ID) : null;
    if (!isObject(fields) || companyId === null) throw crmError("The parameter 'fields' is not valid");
    if (!(await contactExists(ctx, id))) throw errors.notFound();
    const links = await readLinks(ctx, id);
    if (links.some((l) => l.companyId === companyId)) return { result: false };
    const primary = links.length === 0 || fields.IS_PRIMARY === 'Y';
    if (primary) for (const link of links) link.primary = false;
    links.push({ companyId, primary, sort: positiveInt(fields.SORT) ?? Math.max(0, ...links.map((l) => l.sort)) + 10 });
    await setLinks(ctx, id, links);
    return { result: true };
  },
};
