import type pg from 'pg';
import { formatCount } from '../land/progress.js';
import { rowsOf } from './batches.js';
import { ORIGINATOR } from './fields.js';
import type { CrmEntity } from './links.js';
import { PushStoppedError, stopReason, type PortalClient } from './portal-client.js';
import type { Webhook } from './webhook.js';

/** Which portal a webhook reaches, and how that was known. */
export interface PortalIdentity {
  /** The portal's name: links, runs and the request bucket are kept under it. */
  name: string;
  /**
   * known: the address reached it before; first: a portal holding nothing of ours, named by
   * its address; recognised: a new address, known by the entities it holds; configured: named
   * by crm.portal.
   */
  how: 'known' | 'first' | 'recognised' | 'configured';
  /** Its other addresses, for messages. */
  addresses: string[];
  /**
   * The portal holds nothing of ours and this warehouse created nothing there: a first push.
   * Two first pushes through two addresses of one portal could each take it for a new one, so
   * first pushes take turns (push.ts).
   */
  fresh: boolean;
}

export interface IdentifyOptions {
  /** crm.portal: the name the config gives the portal this webhook reaches. */
  configured?: string;
  /**
   * The portal holds entities of ours (ORIGINATOR_ID) that no link of this warehouse names
   * (the links were lost, a restored database): take them back, as the push finds them (by
   * INN and by our ORIGIN_ID), instead of stopping.
   */
  relink?: boolean;
  /** Record the address (false for a dry run). */
  record: boolean;
  /**
   * Record it also for a portal that holds nothing of ours yet (false until a first push has
   * its turn: another first push may be filling that portal through another address).
   */
  recordFresh?: boolean;
  log: (line: string) => void;
}

/** An entity of ours in the portal: created by this warehouse (ORIGINATOR_ID), our id in ORIGIN_ID. */
interface Ours {
  entity: CrmEntity;
  bitrixId: number;
  canonicalId: string;
  /** DATE_CREATE, as the portal says. */
  createdAt: Date | null;
}

/**
 * How far the CRM's DATE_CREATE of an entity may be from when this warehouse recorded creating
 * it: a request's time at the portal (it gives up after 60 s) and the clocks' difference.
 */
const CREATED_WITHIN_SECONDS = 180;

/**
 * Which portal the webhook reaches, whatever its address: a portal is recognised by what it
 * holds, not by its URL. The portal is asked for the oldest entities of ours it holds (up to
 * 50 companies and 50 contacts with our ORIGINATOR_ID), and those are matched against every
 * portal's links: the same CRM ids under the same ORIGIN_IDs, created (DATE_CREATE) when this
 * warehouse created them, are the same portal — ids alone are not, as two portals loaded the
 * same way have the same ones.
 * - An address reached before is its portal's, once the portal proves to hold that portal's
 *   entities (a new portal at an old address — a sandbox on a new database — is refused).
 * - A new address whose entities match one portal's links is that portal (a custom domain, a
 *   renamed portal, a webhook of another user): nothing is created again, no edit undone.
 * - A portal holding entities of ours that no links name is never taken for an empty one: the
 *   push stops, saying what to do (crm.portal, or --relink).
 * - A portal holding nothing of ours is a new portal, named by crm.portal or by its address.
 */
export async function identifyPortal(pool: pg.Pool, client: PortalClient, webhook: Webhook, o: IdentifyOptions): Promise<PortalIdentity> {
  const address = webhook.address;
  const { rows: [known] } = await pool.query<{ portal: string }>('select portal from etl.crm_portal_address where address = $1', [address]);
  const ours = await oursAt(client);
  const links = await matchLinks(pool, ours.entities);
  const held = `${formatCount(ours.total.company)} companies and ${formatCount(ours.total.contact)} contacts created by b2b-etl (ORIGINATOR_ID ${ORIGINATOR})`;
  let name = o.configured ?? known?.portal;
  let how: PortalIdentity['how'] = o.configured ? 'configured' : 'known';
  if (name === undefined) {
    const proven = [...links].filter(([, m]) => m.created > 0 && agrees(m)).map(([p]) => p);
    if (proven.length > 1) {
      throw new PushStoppedError(`the portal at ${address} holds entities that the links of several portals name, created when they were ` +
        `(${proven.join(', ')}: portals loaded the same way at the same time): say which portal it is with crm.portal in the config`);
    }
    const alike = [...links].filter(([, m]) => m.same > 0).map(([p]) => p);
    if (proven.length === 0 && alike.length > 0) {
      throw new PushStoppedError(`the portal at ${address} holds ${held} some of whose CRM ids and ORIGIN_IDs are those portal ${alike.join(' or ')} has, ` +
        'but not all of them, or not created when that portal\'s were (another portal loaded the same way?): if it is that portal, say so with crm.portal ' +
        'in the config; if it is another, give it a name of its own there');
    }
    name = proven[0] ?? address;
    how = proven[0] ? 'recognised' : 'first';
  }
  const own = links.get(name);
  // proof: created when this warehouse created them (or, for links from before that was
  // recorded, the same ids), or a create of theirs still waiting for its answer — and no more
  // than a few of ours there under other ids than the links say
  const mine = own && agrees(own) ? own.created + own.undated + own.pending : 0;
  const others = [...links].filter(([p, m]) => p !== name && m.created + m.undated > 0 && agrees(m)).map(([p]) => p);
  const ownLinks = await createdLinks(pool, name);
  if (ours.entities.length > 0 && mine === 0) {
    if (own && (own.same > 0 || own.other > 0)) {
      throw new PushStoppedError(`the portal at ${address} holds ${held}, but ${own.other > 0 ? `${formatCount(own.other)} of the oldest are there under other CRM ids than portal ${name}'s links say` : `created at other times than portal ${name}'s`}: ` +
        `it is another portal loaded the same way${o.configured ? ', not the one crm.portal names' : ''}; give it a name of its own with crm.portal in the config`);
    }
    if (others.length > 0) {
      throw new PushStoppedError(`the portal at ${address} is portal ${others[0]} (it holds the entities that portal's links name), ` +
        `not ${name}${o.configured ? ' as crm.portal says' : ''}: ${o.configured ? `set crm.portal to ${others[0]}, or remove it` : `if ${address} now reaches another portal, name it with crm.portal in the config`}`);
    }
    if (ownLinks > 0) {
      throw new PushStoppedError(`the portal at ${address} holds ${held}, but none of the ${formatCount(ownLinks)} this warehouse created in portal ${name}: ` +
        `it is another portal; give it a name of its own with crm.portal in the config`);
    }
    if (!o.relink) {
      throw new PushStoppedError(`the portal at ${address} holds ${held}, but this warehouse has no links to them` +
        `${how === 'known' || how === 'configured' ? ` under portal ${name}` : ''}: it is not an empty portal. If it is a portal this warehouse ` +
        'pushed to under another name, set crm.portal in the config to that name (b2b-etl status lists the portals); if this warehouse lost its links ' +
        '(a restored database), push --relink finds them again by INN and by our ORIGIN_ID instead of creating them twice');
    }
  }
  if (ours.entities.length === 0 && ownLinks > 0) {
    throw new PushStoppedError(`the portal at ${address} holds none of the ${formatCount(ownLinks)} companies and contacts this warehouse created in portal ${name}: ` +
      'it is another portal (a new one at the same address?); give it a name of its own with crm.portal in the config');
  }
  const addresses = await otherAddresses(pool, name, address);
  const fresh = ours.entities.length === 0 && ownLinks === 0;
  if (o.record && (!fresh || o.recordFresh !== false)) {
    await pool.query('insert into etl.crm_portal (portal) values ($1) on conflict do nothing', [name]);
    await pool.query(
      `insert into etl.crm_portal_address as a (address, portal, how) values ($1, $2, $3)
       on conflict (address) do update set portal = excluded.portal, last_seen_at = now(),
         how = case when a.portal = excluded.portal then a.how else excluded.how end`,
      [address, name, how === 'known' ? 'first' : how]);
  }
  if (how === 'recognised') {
    o.log(`push: the portal at ${address} is portal ${name}${addresses.length ? ` (reached before at ${addresses.join(', ')})` : ''}: ` +
      `${formatCount(mine)} of the oldest entities of ours it holds are that portal's by its links; what was pushed there counts here`);
  } else if (known && known.portal !== name) {
    o.log(`push: ${address} reached portal ${known.portal} before; crm.portal names portal ${name}, and the portal there holds nothing of ${known.portal}'s: ` +
      `${o.record ? 'the address is now' : 'the address would be'} portal ${name}'s`);
  }
  return { name, how, addresses, fresh };
}

/** The oldest companies and contacts of ours at the portal (one request), and how many it holds. */
async function oursAt(client: PortalClient): Promise<{ entities: Ours[]; total: Record<CrmEntity, number> }> {
  const list = (method: string) => ({ method, params: { filter: { ORIGINATOR_ID: ORIGINATOR }, select: ['ID', 'ORIGIN_ID', 'DATE_CREATE'], order: { ID: 'ASC' }, start: 0 } });
  const answer = await client.readBatch([{ key: 'company', ...list('crm.company.list') }, { key: 'contact', ...list('crm.contact.list') }]);
  const entities: Ours[] = [];
  const total: Record<CrmEntity, number> = { company: 0, contact: 0, deal: 0 };
  for (const entity of ['company', 'contact'] as const) {
    const error = answer.errors.get(entity);
    if (error) {
      throw new PushStoppedError(stopReason({ ...error, method: `crm.${entity}.list` }) ??
        `looking up what the portal holds of ours failed: crm.${entity}.list: ${error.code} ${error.description}`);
    }
    const rows = rowsOf(answer.results.get(entity));
    total[entity] = answer.totals.get(entity) ?? rows.length;
    for (const row of rows) {
      const origin = String(row.ORIGIN_ID ?? '');
      const created = Date.parse(String(row.DATE_CREATE ?? ''));
      if (/^\d{1,18}$/.test(origin)) entities.push({ entity, bitrixId: Number(row.ID), canonicalId: origin, createdAt: Number.isFinite(created) ? new Date(created) : null });
    }
  }
  return { entities, total };
}

/** How many entities of ours a portal's links name, by the strength of the evidence. */
interface Matched {
  /**
   * The same CRM id for the same canonical row, created when the CRM says it was (or a create
   * of that row sent then, still waiting for its answer): the same portal.
   */
  created: number;
  /** The same CRM id for the same canonical row: the same portal, or another loaded the same way. */
  same: number;
  /** Of those, links that do not say when they were created (kept before that was recorded): their ids are all there is. */
  undated: number;
  /** A create of that row still waiting for its answer (a push that died before it knew the id): a hint, never proof. */
  pending: number;
  /** Canonical rows of ours there under another CRM id than the portal's link says: evidence against. */
  other: number;
}

/** The portal's links agree with what the address holds: ours there under other ids are at most a tenth (a duplicate a crash left). */
const agrees = (m: Matched) => m.other <= 0.1 * (m.same + m.other);

/** Per portal, how many of these entities its links name (see Matched). */
async function matchLinks(pool: pg.Pool, ours: readonly Ours[]): Promise<Map<string, Matched>> {
  if (ours.length === 0) return new Map();
  const { rows } = await pool.query<{ portal: string } & Matched>(
    `select l.portal,
       count(*) filter (where (l.bitrix_id = o.bitrix_id and abs(extract(epoch from l.created_at - o.created_at)) <= $5)
         or (l.bitrix_id is null and l.state = 'sending' and abs(extract(epoch from l.sent_at - o.created_at)) <= $5))::int as created,
       count(*) filter (where l.bitrix_id = o.bitrix_id)::int as same,
       count(*) filter (where l.bitrix_id = o.bitrix_id and l.created_at is null)::int as undated,
       count(*) filter (where l.bitrix_id is null and l.state = 'sending')::int as pending,
       count(*) filter (where l.bitrix_id <> o.bitrix_id)::int as other
     from unnest($1::text[], $2::bigint[], $3::bigint[], $4::timestamptz[]) as o (entity, bitrix_id, canonical_id, created_at)
     join etl.crm_link l on l.entity = o.entity and l.canonical_id = o.canonical_id
       and (l.bitrix_id is not null or l.state = 'sending')
     group by l.portal order by created desc, same desc`,
    [ours.map((o) => o.entity), ours.map((o) => o.bitrixId), ours.map((o) => o.canonicalId), ours.map((o) => o.createdAt), CREATED_WITHIN_SECONDS]);
  return new Map(rows.map((r) => [r.portal, { created: r.created, same: r.same, undated: r.undated, pending: r.pending, other: r.other }]));
}

/** Entities this warehouse created in the portal and believes are there. */
async function createdLinks(pool: pg.Pool, portal: string): Promise<number> {
  const { rows } = await pool.query<{ n: number }>(
    `select count(*)::int as n from etl.crm_link where portal = $1 and how = 'created' and bitrix_id is not null and state in ('linked', 'sending')`, [portal]);
  return rows[0]!.n;
}

async function otherAddresses(pool: pg.Pool, portal: string, address: string): Promise<string[]> {
  const { rows } = await pool.query<{ address: string }>(
    'select address from etl.crm_portal_address where portal = $1 and address <> $2 order by first_seen_at', [portal, address]);
  return rows.map((r) => r.address);
}

/** The portal an address is known to reach (the address itself when it was never reached). */
export async function portalOfAddress(pool: pg.Pool, address: string): Promise<string> {
  const { rows } = await pool.query<{ portal: string }>('select portal from etl.crm_portal_address where address = $1', [address]);
  return rows[0]?.portal ?? address;
}
