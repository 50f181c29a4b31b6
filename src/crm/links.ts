import type pg from 'pg';

export type CrmEntity = 'company' | 'contact' | 'deal';

/** In the order a push takes them: a contact and a deal go under their company. */
export const CRM_ENTITIES: readonly CrmEntity[] = ['company', 'contact', 'deal'];

/** One row of etl.crm_link. */
export interface LinkRow {
  canonical_id: string;
  bitrix_id: string | null;
  requisite_id: string | null;
  bankdetail_id: string | null;
  has_address: boolean;
  state: 'sending' | 'linked' | 'failed' | 'deleted';
  how: 'created' | 'adopted' | null;
  pushed_hash: string | null;
  pushed: unknown;
  /** What an add in flight carried (set before it is sent), and when its answer was last awaited. */
  intent: unknown;
  intent_at: Date | null;
  /** When the write carrying it left for the portal; null: claimed and never sent. */
  sent_at: Date | null;
}

/** What a push learnt about one entity: the CRM's ids and what it now holds of ours. */
export interface Linked {
  bitrixId: number;
  requisiteId?: number | null;
  bankdetailId?: number | null;
  hasAddress?: boolean;
  how?: 'created' | 'adopted';
  mode?: 'import' | 'add';
  /** Set when every part was written: the row is then unchanged until the canonical row changes. */
  pushedHash?: string | null;
  pushed?: unknown;
  /** Nothing was written yet (an adoption): this run may take the row again to update it. */
  retake?: boolean;
  /** When the create was sent, for one found after its answer was lost (now for one answered). */
  createdAt?: Date | null;
}

/** Each entity's out view, its id, and the order a push takes its work in (deals by date: import creates them in ascending time). */
const OUT_VIEW: Record<CrmEntity, { view: string; id: string; order: string }> = {
  company: { view: 'etl.crm_company_out', id: 'company_id', order: 'o.company_id' },
  contact: { view: 'etl.crm_contact_out', id: 'contact_id', order: 'o.contact_id' },
  deal: { view: 'etl.crm_deal_out', id: 'deal_id', order: 'o.begin_at, o.deal_id' },
};

/**
 * etl.crm_link for one portal and one push session. A session claims the rows it works on
 * (claimed_by); a row claimed by a session whose advisory lock is free was left by a dead
 * push and may be taken (etl.crm_session_alive). A new entity is claimed by inserting its
 * row in state 'sending' before anything is sent: the intent a crash leaves behind.
 */
export class LinkStore {
  /** Rows written since etl.crm_link's statistics were last taken, and the rows it had then. */
  private written = Infinity;
  private rowsAtAnalyze = 0;

  constructor(private readonly pool: pg.Pool, readonly portal: string, readonly session: string, readonly runId: number) {}

  /** Of these Bitrix ids of an entity, those a record of this warehouse is linked to (or being sent as) on this portal. */
  async linkedBitrixIds(entity: CrmEntity, bitrixIds: readonly number[]): Promise<Set<number>> {
    if (bitrixIds.length === 0) return new Set();
    const { rows } = await this.pool.query<{ bitrix_id: string }>(
      `select bitrix_id from etl.crm_link where portal = $1 and entity = $2 and bitrix_id = any($3::bigint[]) and state in ('linked', 'sending')`,
      [this.portal, entity, bitrixIds]);
    return new Set(rows.map((r) => Number(r.bitrix_id)));
  }

  /**
   * A push writes thousands of rows in seconds, faster than autovacuum analyzes them. With
   * statistics taken before this portal (or this entity) had rows, the planner expects none
   * and records each batch's outcome by hashing every link of the portal: a push slows as it
   * goes (0.2 s a batch at 54 000 companies). Analyzed at the start and while a phase claims,
   * after 5 000 new rows and a fifth of the table, so a few dozen times in a seed-scale push.
   */
  private async freshStatistics(): Promise<void> {
    if (this.written < Math.max(5000, this.rowsAtAnalyze / 5)) return;
    await this.pool.query('analyze etl.crm_link');
    const { rows } = await this.pool.query<{ n: number }>(`select reltuples::float8 as n from pg_class where oid = 'etl.crm_link'::regclass`);
    this.rowsAtAnalyze = Math.max(rows[0]?.n ?? 0, 0);
    this.written = 0;
  }

  /**
   * The work of a push, read once: the ids of entities without a link (or failed before the
   * CRM had them) and of linked ones whose row changed since it was pushed (its hash differs,
   * or a part is missing). Contacts and deals only of linked companies. One pass over the out view; the
   * claims then look at these ids only.
   */
  async work(entity: CrmEntity): Promise<{ fresh: string[]; changed: string[] }> {
    await this.freshStatistics();
    const { view, id, order } = OUT_VIEW[entity];
    const companyLinked = entity !== 'company'
      ? `and exists (select from etl.crm_link cl where cl.portal = $1 and cl.entity = 'company' and cl.canonical_id = o.company_id and cl.state = 'linked')`
      : '';
    const { rows } = await this.pool.query<{ canonical_id: string; fresh: boolean }>(
      `select o.${id}::text as canonical_id, l.canonical_id is null or l.bitrix_id is null as fresh
       from ${view} o
       left join etl.crm_link l on l.portal = $1 and l.entity = $2 and l.canonical_id = o.${id}
       where (l.canonical_id is null or (l.state = 'failed' and l.bitrix_id is null) or (l.state = 'linked' and l.pushed_hash is distinct from o.out_hash))
         ${companyLinked}
       order by ${order}`,
      [this.portal, entity]);
    return { fresh: rows.filter((r) => r.fresh).map((r) => r.canonical_id), changed: rows.filter((r) => !r.fresh).map((r) => r.canonical_id) };
  }

  /**
   * Claims, of these ids, the entities to create: without a row, or failed before the CRM had
   * them (not those this run tried already). A row in state 'sending' is inserted before
   * anything is sent; another process may have claimed some of the ids first.
   */
  async claimNew(entity: CrmEntity, ids: readonly string[]): Promise<string[]> {
    const { rows } = await this.pool.query<{ canonical_id: string }>(
      `insert into etl.crm_link as l (portal, entity, canonical_id, state, claimed_by, claimed_run, intent_at)
       select $1, $3, id, 'sending', $2, $5, now() from unnest($4::bigint[]) as id
       on conflict (portal, entity, canonical_id) do update set state = 'sending', claimed_by = $2, claimed_run = $5, intent_at = now(), sent_at = null, last_error = null
         where l.state = 'failed' and l.bitrix_id is null and l.claimed_run is distinct from $5
       returning l.canonical_id::text`,
      [this.portal, this.session, entity, ids, this.runId]);
    this.written += rows.length;
    await this.freshStatistics();
    return rows.map((r) => r.canonical_id);
  }

  /**
   * Claims, of these ids, the linked entities whose row changed since it was pushed (or that
   * miss a part): once a run, or `again` (an update whose answer was lost, sent again).
   */
  async claimChanged(entity: CrmEntity, ids: readonly string[], again = false): Promise<LinkRow[]> {
    const { view, id } = OUT_VIEW[entity];
    const { rows } = await this.pool.query<LinkRow>(
      `with picked as (
         select l.canonical_id from etl.crm_link l
         join ${view} o on o.${id} = l.canonical_id
         where l.portal = $1 and l.entity = $3 and l.canonical_id = any($4::bigint[]) and o.${id} = any($4::bigint[])
           and l.state = 'linked' and l.pushed_hash is distinct from o.out_hash
           and (l.claimed_by is null or (l.claimed_by <> $2 and not etl.crm_session_alive(l.claimed_by)))
           and ($6 or l.claimed_run is distinct from $5)
         for update of l skip locked
       )
       update etl.crm_link l set claimed_by = $2, claimed_run = $5
       from picked where l.portal = $1 and l.entity = $3 and l.canonical_id = picked.canonical_id
       returning ${LINK_COLUMNS}`,
      [this.portal, this.session, entity, ids, this.runId, again]);
    return rows;
  }

  /** Claims rows left 'sending' by a push that died (or by this one, after a request got no answer). */
  async claimUnknown(entity: CrmEntity, ownToo = false): Promise<LinkRow[]> {
    const { rows } = await this.pool.query<LinkRow>(
      `update etl.crm_link l set claimed_by = $2
       where l.portal = $1 and l.entity = $3 and l.state = 'sending'
         and (l.claimed_by is null or ($4 and l.claimed_by = $2) or (l.claimed_by <> $2 and not etl.crm_session_alive(l.claimed_by)))
       returning ${LINK_COLUMNS}`,
      [this.portal, this.session, entity, ownToo]);
    return rows;
  }

  async linked(entity: CrmEntity, canonicalId: string, l: Linked): Promise<void> {
    await this.linkedMany(entity, [[canonicalId, l]]);
  }

  /** Many outcomes in one statement (a batch's worth). */
  async linkedMany(entity: CrmEntity, outcomes: ReadonlyArray<readonly [string, Linked]>): Promise<void> {
    if (outcomes.length === 0) return;
    const rows = outcomes.map(([id, l]) => ({
      id, bitrix_id: l.bitrixId, set_requisite: l.requisiteId !== undefined, requisite_id: l.requisiteId ?? null,
      set_bank: l.bankdetailId !== undefined, bankdetail_id: l.bankdetailId ?? null, has_address: l.hasAddress ?? null,
      how: l.how ?? null, mode: l.mode ?? null, pushed_hash: l.pushedHash ?? null, pushed: l.pushed === undefined ? null : l.pushed,
      retake: l.retake ?? false, created_at: l.createdAt?.toISOString() ?? null,
    }));
    await this.pool.query(
      `update etl.crm_link l set state = 'linked', bitrix_id = o.bitrix_id,
         requisite_id = case when o.set_requisite then o.requisite_id else l.requisite_id end,
         bankdetail_id = case when o.set_bank then o.bankdetail_id else l.bankdetail_id end,
         has_address = coalesce(o.has_address, l.has_address), how = coalesce(o.how, l.how), mode = coalesce(o.mode, l.mode),
         pushed_hash = o.pushed_hash, pushed = coalesce(o.pushed, l.pushed), intent = null, sent_at = null, pushed_at = now(), claimed_by = null,
         last_error = case when o.pushed_hash is null then l.last_error end,
         claimed_run = case when o.retake then null else l.claimed_run end,
         created_at = coalesce(l.created_at, case when coalesce(o.how, l.how) = 'created' then coalesce(o.created_at, now()) end)
       from jsonb_to_recordset($3::jsonb) as o(id bigint, bitrix_id bigint, set_requisite boolean, requisite_id bigint, set_bank boolean,
         bankdetail_id bigint, has_address boolean, how text, mode text, pushed_hash uuid, pushed jsonb, retake boolean, created_at timestamptz)
       where l.portal = $1 and l.entity = $2 and l.canonical_id = any($4::bigint[]) and l.canonical_id = o.id`,
      // the ids as a key condition: the planner knows how many they are, not how many rows the recordset holds
      [this.portal, entity, JSON.stringify(rows), outcomes.map(([id]) => id)]);
  }

  /** The entity was not created (or a part of it failed): the portal's words are kept. */
  async failed(entity: CrmEntity, canonicalId: string, error: string): Promise<void> {
    await this.pool.query(
      `update etl.crm_link set state = case when bitrix_id is null then 'failed' else state end, last_error = $4, claimed_by = null
       where portal = $1 and entity = $2 and canonical_id = $3`,
      [this.portal, entity, canonicalId, error]);
  }

  /**
   * What the adds about to be sent carry, per entity: if their answer is lost, the entity found
   * in the CRM afterwards holds these values, not whatever the canonical row says by then.
   */
  async recordIntent(entity: CrmEntity, intents: ReadonlyArray<readonly [string, unknown]>): Promise<void> {
    if (intents.length === 0) return;
    await this.pool.query(
      `update etl.crm_link l set intent = i.intent, intent_at = now()
       from jsonb_to_recordset($3::jsonb) as i(id bigint, intent jsonb)
       where l.portal = $1 and l.entity = $2 and l.canonical_id = i.id`,
      [this.portal, entity, JSON.stringify(intents.map(([id, intent]) => ({ id, intent })))]);
  }

  /**
   * Entities the CRM no longer has, by our ORIGIN_ID nor by their id (a manager deleted or
   * merged them away): they stay out of it, with when this was noticed and why; their contacts
   * wait. Only a person brings one back (b2b-etl crm restore).
   */
  async deleted(entity: CrmEntity, canonicalIds: readonly string[], reason: string): Promise<void> {
    if (canonicalIds.length === 0) return;
    await this.pool.query(
      `update etl.crm_link set state = 'deleted', deleted_at = coalesce(deleted_at, now()), claimed_by = null, last_error = $4, intent = null
       where portal = $1 and entity = $2 and canonical_id = any($3::bigint[])`,
      [this.portal, entity, canonicalIds, reason]);
  }

  /**
   * Writes that got no answer (the connection dropped, a gateway's page): their rows stay, or
   * become, 'sending', and are looked up — once the portal cannot still be running them —
   * before anything more is sent about them.
   */
  async unanswered(entity: CrmEntity, canonicalIds: readonly string[]): Promise<void> {
    if (canonicalIds.length === 0) return;
    await this.pool.query(
      `update etl.crm_link set state = 'sending', intent_at = now(), sent_at = now() where portal = $1 and entity = $2 and canonical_id = any($3::bigint[])`,
      [this.portal, entity, canonicalIds]);
  }

  /** Looked up after an unknown outcome and not in the CRM: as if never sent. */
  async forget(entity: CrmEntity, canonicalIds: readonly string[]): Promise<void> {
    if (canonicalIds.length === 0) return;
    await this.pool.query(
      `delete from etl.crm_link where portal = $1 and entity = $2 and canonical_id = any($3::bigint[]) and state = 'sending' and bitrix_id is null`,
      [this.portal, entity, canonicalIds]);
  }

  /**
   * The write carrying these entities goes out now (true), or turned out never to have left (false).
   * Kept with the rows: a row whose write never left cannot be in the CRM, whoever finds it.
   */
  async markSent(entity: CrmEntity, canonicalIds: readonly string[], sent: boolean): Promise<void> {
    if (canonicalIds.length === 0) return;
    await this.pool.query(
      `update etl.crm_link set sent_at = case when $5 then now() end
       where portal = $1 and entity = $2 and canonical_id = any($3::bigint[]) and claimed_by = $4 and state = 'sending'`,
      [this.portal, entity, canonicalIds, this.session, sent]);
  }

  /**
   * Rows this session claimed to create whose write never left (a stop while it waited, a
   * portal refusing connections): nothing of them can be in the CRM, so they are as if never
   * claimed. Those sent and unanswered stay 'sending', for a lookup.
   */
  async forgetUnsent(entity: CrmEntity): Promise<number> {
    const { rowCount } = await this.pool.query(
      `delete from etl.crm_link where portal = $1 and entity = $2 and claimed_by = $3 and state = 'sending' and bitrix_id is null and sent_at is null`,
      [this.portal, entity, this.session]);
    return rowCount ?? 0;
  }

  async release(entity: CrmEntity, canonicalIds: readonly string[]): Promise<void> {
    if (canonicalIds.length === 0) return;
    await this.pool.query(
      `update etl.crm_link set claimed_by = null where portal = $1 and entity = $2 and canonical_id = any($3::bigint[]) and claimed_by = $4`,
      [this.portal, entity, canonicalIds, this.session]);
  }

  /** The rows of etl.crm_company_out / crm_contact_out / crm_deal_out for these ids. */
  async out<T>(entity: CrmEntity, canonicalIds: readonly string[]): Promise<Map<string, T>> {
    const { view, id } = OUT_VIEW[entity];
    const { rows } = await this.pool.query(`select *, ${id}::text as ${id} from ${view} where ${id} = any($1::bigint[])`, [canonicalIds]);
    return new Map(rows.map((r: Record<string, unknown>) => [String(r[id]), r as T]));
  }

  /**
   * The contacts deals name, by canonical id: the Bitrix id of one linked on this portal; null
   * for one that will not be there (failed, deleted in the CRM, not for the CRM, its company
   * not there); 'waiting' while its push is still to come (not sent yet, or sent and not
   * answered): a deal waits for it rather than go without it.
   */
  async dealContacts(contactIds: readonly string[]): Promise<Map<string, number | null | 'waiting'>> {
    if (contactIds.length === 0) return new Map();
    const { rows } = await this.pool.query<{ contact_id: string; state: string | null; bitrix_id: string | null; coming: boolean }>(
      `select k.id::text as contact_id, l.state, l.bitrix_id::text,
              exists (select from etl.crm_contact_out o
                      join etl.crm_link cl on cl.portal = $1 and cl.entity = 'company' and cl.canonical_id = o.company_id and cl.state = 'linked'
                      where o.contact_id = k.id) as coming
       from unnest($2::bigint[]) as k (id)
       left join etl.crm_link l on l.portal = $1 and l.entity = 'contact' and l.canonical_id = k.id`,
      [this.portal, contactIds]);
    return new Map(rows.map((r) => [r.contact_id,
      r.state === 'linked' ? Number(r.bitrix_id) : r.coming && (r.state === null || r.state === 'sending') ? 'waiting' as const : null]));
  }

  /** The Bitrix ids of linked companies, by canonical id. */
  async companyIds(canonicalIds: readonly string[]): Promise<Map<string, { bitrixId: number; how: string | null }>> {
    return this.linkedIds('company', canonicalIds);
  }

  /** The Bitrix ids of linked entities of a kind, by canonical id. */
  async linkedIds(entity: CrmEntity, canonicalIds: readonly string[]): Promise<Map<string, { bitrixId: number; how: string | null }>> {
    const { rows } = await this.pool.query<{ canonical_id: string; bitrix_id: string; how: string | null }>(
      `select canonical_id::text, bitrix_id::text, how from etl.crm_link
       where portal = $1 and entity = $3 and state = 'linked' and canonical_id = any($2::bigint[])`,
      [this.portal, canonicalIds, entity]);
    return new Map(rows.map((r) => [r.canonical_id, { bitrixId: Number(r.bitrix_id), how: r.how }]));
  }
}

const LINK_COLUMNS = `l.canonical_id::text, l.bitrix_id::text, l.requisite_id::text, l.bankdetail_id::text, l.has_address, l.state, l.how,
  l.pushed_hash::text, l.pushed, l.intent, l.intent_at, l.sent_at`;
