import type pg from 'pg';
import { inTransaction } from '../db/connection.js';
import type { CrmEntity } from './links.js';
import { queuePortalPush } from './queue.js';

/** A company or contact a manager deleted in a portal's CRM (a row of etl.crm_deleted). */
export interface DeletedEntity {
  portal: string;
  entity: CrmEntity;
  canonical_id: string;
  bitrix_id: string;
  deleted_at: Date;
  let_go_at: Date | null;
  label: string;
  contacts_waiting: number;
}

/** The subject names nothing deleted in a CRM. */
export class NothingDeletedError extends Error {}

/**
 * What a person names: an INN (its canonical company), company:ID or contact:ID (canonical
 * ids, as `why` and etl.crm_deleted show them). Null when it is none of these forms.
 */
export function parseSubject(subject: string): { entity: CrmEntity; by: 'inn' | 'id'; value: string } | null {
  const text = subject.trim();
  const byId = /^(company|contact):(\d{1,18})$/.exec(text);
  if (byId) return { entity: byId[1] as CrmEntity, by: 'id', value: byId[2]! };
  const inn = text.replace(/\s/g, '');
  if (/^\d{10}(\d{2})?$/.test(inn)) return { entity: 'company', by: 'inn', value: inn };
  return null;
}

/** Deleted entities, of one portal or all, matching a subject or all of them. */
export async function listDeleted(pool: pg.Pool, o: { portal?: string; subject?: string } = {}): Promise<DeletedEntity[]> {
  const subject = o.subject === undefined ? null : parseSubject(o.subject);
  const { rows } = await pool.query<DeletedEntity>(
    `select d.portal, d.entity, d.canonical_id::text, d.bitrix_id::text, d.deleted_at, d.let_go_at, d.label, d.contacts_waiting::int
     from etl.crm_deleted d
     where ($1::text is null or d.portal = $1)
       and ($2::text is null or (d.entity = $2 and ($3::text = 'id' and d.canonical_id::text = $4::text
         or $3::text = 'inn' and d.canonical_id in (select company_id from canonical.company where inn = $4::text))))
     order by d.portal, d.entity, d.deleted_at, d.canonical_id`,
    [o.portal ?? null, subject?.entity ?? null, subject?.by ?? null, subject?.value ?? null]);
  return rows;
}

/**
 * Brings a deleted company or contact back: the next push creates it again (a company is
 * looked for by INN first, so one a manager re-created is adopted) and puts a company's
 * contacts back under it; a crm_push is queued for it. Returns what was restored.
 */
export async function restoreDeleted(pool: pg.Pool, subject: string, portal?: string): Promise<DeletedEntity[]> {
  const found = await matching(pool, subject, portal);
  await inTransaction(pool, async (client) => {
    for (const d of found) {
      await client.query(`delete from etl.crm_link where portal = $1 and entity = $2 and canonical_id = $3 and state = 'deleted'`, [d.portal, d.entity, d.canonical_id]);
      if (d.entity === 'company') {
        // its contacts in the CRM are read and moved under the company created anew
        await client.query(
          `update etl.crm_link set pushed_hash = null where portal = $1 and entity = 'contact' and state = 'linked'
             and canonical_id in (select contact_id from canonical.contact where company_id = $2)`, [d.portal, d.canonical_id]);
      }
    }
  });
  for (const p of new Set(found.map((d) => d.portal))) await queuePortalPush(pool, p, 5);
  return found;
}

/** Lets a deleted company or contact go: it stays out of the CRM (with a company's waiting contacts) and is no longer reported. */
export async function letGoDeleted(pool: pg.Pool, subject: string, portal?: string): Promise<DeletedEntity[]> {
  const found = await matching(pool, subject, portal);
  await pool.query(
    `update etl.crm_link l set let_go_at = coalesce(l.let_go_at, now())
     from unnest($1::text[], $2::text[], $3::bigint[]) as d (portal, entity, canonical_id)
     where l.portal = d.portal and l.entity = d.entity and l.canonical_id = d.canonical_id and l.state = 'deleted'`,
    [found.map((d) => d.portal), found.map((d) => d.entity), found.map((d) => d.canonical_id)]);
  return found;
}

async function matching(pool: pg.Pool, subject: string, portal?: string): Promise<DeletedEntity[]> {
  // never all of them: a subject of no known form matches nothing
  if (!parseSubject(subject)) throw new NothingDeletedError(`${subject}: name an INN, company:ID or contact:ID`);
  const found = await listDeleted(pool, { portal, subject });
  if (found.length === 0) {
    throw new NothingDeletedError(`nothing deleted in a CRM${portal ? ` of portal ${portal}` : ''} matches ${subject}: b2b-etl crm deleted lists what is`);
  }
  return found;
}
