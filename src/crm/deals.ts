import { BatchSender, commandKey, rowsOf, type Piece } from './batches.js';
import { crmTime, IMPORT_MAX } from './companies.js';
import { countSettled, isNotFound, recordDeleted, recordFailure, type PushContext } from './context.js';
import { scalarChanges } from './diff.js';
import { ORIGINATOR } from './fields.js';
import type { LinkRow, Linked } from './links.js';
import { listRowsByKey, outcomeOf, resolveUnknown } from './lookups.js';
import { PushStoppedError, REFUSED_BEFORE_RUNNING, UnknownOutcomeError } from './portal-client.js';
import type { BatchAnswer, Command } from './rest.js';

/** crm.item.batchImport's entity type of deals; crm.item.productrow.*'s owner type of a deal. */
const DEAL_TYPE = 2;
const DEAL_OWNER = 'D';

/** A row of etl.crm_deal_out. */
export interface DealOut {
  deal_id: string;
  company_id: string;
  contact_id: string | null;
  title: string;
  stage_id: string;
  outcome: 'open' | 'won' | 'lost';
  amount: string;
  currency: string;
  begin_at: Date;
  close_at: Date | null;
  source: string;
  source_key: string;
  rows: Array<{ name: string; price: number | string; quantity: number | string }>;
  out_hash: string;
}

/** What was last pushed of a deal: its fields as compared (see dealValues), its company and contact, and its product rows. */
export interface PushedDeal {
  fields: Record<string, string>;
  companyId: number | null;
  contactId: number | null;
  /** The rows as set (rowsKey); null: not set yet. */
  rows: string | null;
}

/** The portal's time zone for the deal's dates: the stores and the portal are Moscow businesses. */
const DAY_OF = new Intl.DateTimeFormat('en-CA', { timeZone: 'Europe/Moscow', year: 'numeric', month: '2-digit', day: '2-digit' });
const dayOf = (at: Date | null) => (at === null ? '' : DAY_OF.format(at));

/**
 * How long after its order's date an open deal is expected to close: the portal's own default
 * for a new deal. An open deal carries it from the order's date instead of the portal filling it
 * in from the moment of the push, so the deal's close date in the CRM follows from the order
 * alone: a deal created open and one closed, pushed and then reopened hold the same day.
 */
const OPEN_DEAL_DAYS = 7;
function closeDay(d: DealOut): string {
  if (d.close_at !== null) return dayOf(d.close_at);
  // calendar days from the order's day in Moscow (a week with a clock change before 2014 had 167 or 169 hours)
  const [year, month, day] = dayOf(d.begin_at).split('-').map(Number) as [number, number, number];
  return new Date(Date.UTC(year, month - 1, day + OPEN_DEAL_DAYS)).toISOString().slice(0, 10);
}

/**
 * A deal's own fields as the push compares them with the CRM: the amount with two decimals
 * (set by hand, so rows that do not add up to the order's total leave it as billed), dates as
 * days in Moscow time. The CRM's answers go through crmDealValues to the same form.
 */
export function dealValues(d: DealOut): Record<string, string> {
  return {
    TITLE: d.title, STAGE_ID: d.stage_id, OPPORTUNITY: Number(d.amount).toFixed(2), CURRENCY_ID: d.currency, BEGINDATE: dayOf(d.begin_at),
    CLOSEDATE: closeDay(d),
  };
}

/** A deal as crm.deal.get answers it, in dealValues' form. */
function crmDealValues(row: Record<string, unknown>): Record<string, unknown> {
  const text = (v: unknown) => (v === null || v === undefined ? '' : String(v));
  const amount = Number(row.OPPORTUNITY);
  return {
    ...row,
    OPPORTUNITY: row.OPPORTUNITY === null || row.OPPORTUNITY === undefined || !Number.isFinite(amount) ? text(row.OPPORTUNITY) : amount.toFixed(2),
    BEGINDATE: text(row.BEGINDATE).slice(0, 10),
    CLOSEDATE: text(row.CLOSEDATE).slice(0, 10),
  };
}

/** Product rows in one comparable form: name, price and quantity, in order. */
function rowsKey(rows: ReadonlyArray<{ name?: unknown; productName?: unknown; price?: unknown; quantity?: unknown }>): string {
  return JSON.stringify(rows.map((r) => [String(r.name ?? r.productName ?? ''), Number(r.price ?? 0).toFixed(2), Number(r.quantity ?? 0).toFixed(3)]));
}

function productRows(d: DealOut): Array<Record<string, unknown>> {
  return d.rows.map((r, i) => ({ productId: 0, productName: r.name, price: Number(r.price), quantity: Number(r.quantity), sort: (i + 1) * 10 }));
}

function pushedDeal(d: DealOut, companyId: number, contactId: number | null, rows: string | null): PushedDeal {
  return { fields: dealValues(d), companyId, contactId, rows };
}

/** crm.item fields of a deal for crm.item.batchImport, created at `createdTime` (import's own rule: never before a deal already there). */
function dealImportItem(d: DealOut, companyId: number, contactId: number | null, createdTime: Date): Record<string, unknown> {
  const moved = d.close_at !== null && d.close_at > createdTime ? d.close_at : createdTime;
  return {
    title: d.title, stageId: d.stage_id, opportunity: Number(d.amount), isManualOpportunity: 'Y', currencyId: d.currency,
    companyId, contactIds: contactId === null ? [] : [contactId],
    begindate: dayOf(d.begin_at), closedate: closeDay(d),
    createdTime: createdTime.toISOString(), updatedTime: moved.toISOString(), movedTime: moved.toISOString(),
    originatorId: ORIGINATOR, originId: d.deal_id,
  };
}

/** crm.deal.add fields (add mode). */
function dealAddFields(d: DealOut, companyId: number, contactId: number | null): Record<string, unknown> {
  return {
    ...dealValues(d), IS_MANUAL_OPPORTUNITY: 'Y', COMPANY_ID: companyId, ...(contactId === null ? {} : { CONTACT_IDS: [contactId] }),
    ORIGINATOR_ID: ORIGINATOR, ORIGIN_ID: d.deal_id,
  };
}

interface NewDeal {
  deal: DealOut;
  companyId: number;
  contactId: number | null;
}

/** The stages of the portal's default pipeline (crm.status.list, ENTITY_ID DEAL_STAGE), read once a push. */
const stagesOf = new WeakMap<PushContext, Promise<Set<string>>>();

async function portalStages(ctx: PushContext): Promise<Set<string>> {
  let stages = stagesOf.get(ctx);
  if (!stages) {
    stages = (async () => {
      const found = new Set<string>();
      await ctx.sender.send([{ commands: [{ key: commandKey('st'), method: 'crm.status.list', params: { filter: { ENTITY_ID: 'DEAL_STAGE' } } }], item: null }],
        { write: false }, async (batch, answer) => {
          if (answer instanceof UnknownOutcomeError) throw answer;
          const key = batch[0]!.commands[0]!.key;
          const error = answer.errors.get(key);
          if (error) throw new PushStoppedError(`reading the portal's deal stages failed: crm.status.list: ${error.code} ${error.description}`);
          for (const row of rowsOf(answer.results.get(key))) found.add(String(row.STATUS_ID));
        });
      return found;
    })();
    stagesOf.set(ctx, stages);
  }
  return stages;
}

/** Deals whose stage the portal does not have: failed with a message that says where stages are mapped; the rest. */
async function withKnownStage<T extends { deal: DealOut }>(ctx: PushContext, deals: T[]): Promise<T[]> {
  const stages = await portalStages(ctx);
  const known: T[] = [];
  for (const d of deals) {
    if (stages.has(d.deal.stage_id)) {
      known.push(d);
      continue;
    }
    await recordFailure(ctx, 'deal', d.deal.deal_id, 'crm.status.list', 'STAGE_UNKNOWN',
      `stage ${d.deal.stage_id} is not a stage of the portal's default pipeline (crm.status.list, DEAL_STAGE: ${[...stages].join(', ')}); ` +
      `map the store's status to one of them in etl.deal_stage_map`);
    ctx.stats.deal.failed += 1;
  }
  return known;
}

/** The Bitrix ids of the deals' contacts, null for none, 'waiting' for one whose push is still to come (LinkStore.dealContacts). */
function dealContacts(ctx: PushContext, deals: Iterable<DealOut>): Promise<Map<string, number | null | 'waiting'>> {
  return ctx.links.dealContacts([...new Set([...deals].flatMap((d) => (d.contact_id ? [d.contact_id] : [])))]);
}

/**
 * Deals this session claimed as new, under their company's (and contact's) Bitrix id: first
 * looked for by our ORIGIN_ID (one an earlier push created and whose link is gone is linked,
 * never doubled), the rest created. In import mode (crm.item.batchImport, 20 a command, no
 * automation) in ascending order of the order's date, one batch at a time, as import requires;
 * an order older than a deal already in the portal goes in at the oldest creation time import
 * allows, its own date in BEGINDATE (counted in dealsDatedLater). In add mode crm.deal.add.
 * Their product rows follow once each deal's id is known (crm.item.productrow.set replaces a
 * deal's rows, so sending it again is harmless).
 */
export async function createDeals(ctx: PushContext, ids: readonly string[]): Promise<{ sending: Promise<void> }> {
  const out = await ctx.links.out<DealOut>('deal', ids);
  const companies = await ctx.links.companyIds([...new Set([...out.values()].map((d) => d.company_id))]);
  const contacts = await dealContacts(ctx, out.values());
  const deals: NewDeal[] = [];
  // without their company, or their contact still to come: as if not claimed (the next push takes them)
  const later: string[] = [];
  for (const id of ids) {
    const deal = out.get(id);
    const company = deal ? companies.get(deal.company_id) : undefined;
    const contactId = deal?.contact_id ? contacts.get(deal.contact_id) ?? null : null;
    if (!deal || !company || contactId === 'waiting') later.push(id);
    else deals.push({ deal, companyId: company.bitrixId, contactId });
  }
  await ctx.links.forget('deal', later);
  const known = await withKnownStage(ctx, deals);
  const unknownStage = deals.filter((d) => !known.includes(d)).map((d) => d.deal.deal_id);
  await ctx.links.release('deal', unknownStage);
  // ours already, an earlier push's whose link was lost: linked as they are, the next step brings them up to date
  const byOrigin = await listRowsByKey(ctx, 'crm.deal.list', { ORIGINATOR_ID: ORIGINATOR }, '@ORIGIN_ID', known.map((d) => d.deal.deal_id),
    ['ID', 'ORIGIN_ID', 'DATE_CREATE'], 'ORIGIN_ID');
  const adopted: Array<[string, Linked]> = [];
  for (const d of known) {
    const row = byOrigin.get(d.deal.deal_id)?.[0];
    if (!row) continue;
    adopted.push([d.deal.deal_id, { bitrixId: Number(row.ID), how: 'created', createdAt: crmTime(row.DATE_CREATE), pushedHash: null, pushed: pushedDeal(d.deal, d.companyId, d.contactId, null) }]);
  }
  await ctx.links.linkedMany('deal', adopted);
  for (const [id] of adopted) ctx.countedOnce.add(`deal:${id}`);
  ctx.stats.deal.adopted += adopted.length;
  const toCreate = known.filter((d) => !byOrigin.has(d.deal.deal_id)).sort((a, b) => a.deal.begin_at.getTime() - b.deal.begin_at.getTime());
  await ctx.links.recordIntent('deal', toCreate.map((d) => [d.deal.deal_id, pushedDeal(d.deal, d.companyId, d.contactId, null)] as const));
  type Item = NewDeal & { index: number | null };
  const pieces: Piece<Item[]>[] = [];
  let sender = ctx.sender;
  if (ctx.mode === 'import') {
    // creation times ascending, never before the newest deal in the portal nor one this push
    // queued before: one import at a time, in the order the times were given
    const imports = await importState(ctx);
    const timed = toCreate.map((d) => {
      const at = imports.floor !== null && d.deal.begin_at < imports.floor ? imports.floor : d.deal.begin_at;
      if (at !== d.deal.begin_at) ctx.stats.dealsDatedLater += 1;
      imports.floor = at;
      return { ...d, at };
    });
    for (let i = 0; i < timed.length; i += IMPORT_MAX) {
      const group = timed.slice(i, i + IMPORT_MAX);
      const key = commandKey('di');
      pieces.push({
        commands: [{ key, method: 'crm.item.batchImport', params: { entityTypeId: DEAL_TYPE, data: group.map((d) => dealImportItem(d.deal, d.companyId, d.contactId, d.at)) } }],
        units: new Map([[key, group.length]]),
        item: group.map((d, index) => ({ deal: d.deal, companyId: d.companyId, contactId: d.contactId, index })),
      });
    }
    sender = imports.sender;
  } else {
    for (const d of toCreate) {
      pieces.push({ commands: [{ key: commandKey('da'), method: 'crm.deal.add', params: { fields: dealAddFields(d.deal, d.companyId, d.contactId), params: { REGISTER_SONET_EVENT: 'N' } } }], item: [{ ...d, index: null }] });
    }
  }
  const maxUnits = await ctx.client.pacing.unitsPerRequest(ctx.mode === 'import' ? 'crm.item.batchImport' : 'crm.deal.add');
  const sending = (batch: typeof pieces, sent: boolean) => ctx.links.markSent('deal', batch.flatMap((p) => p.item.map((d) => d.deal.deal_id)), sent);
  const created: Array<{ deal: DealOut; bitrixId: number; companyId: number; contactId: number | null }> = [];
  const done = sender.send(pieces, { write: true, maxUnits, sending }, async (batch, answer) => {
    created.push(...await settleCreated(ctx, batch, answer));
  }).then(() => setRows(ctx, created));
  return { sending: done };
}

/** A push's deal imports: one at a time, and the creation time the next may not go before. */
interface ImportState {
  sender: BatchSender;
  floor: Date | null;
  /** Gives the portal's import turn back. */
  untake: () => Promise<void>;
}
const importStates = new WeakMap<PushContext, Promise<ImportState>>();

/**
 * The push's imports, begun at its first deal: its turn at the portal's imports taken (another
 * push to it may be importing), then the newest deal there read — after the turn, so it counts
 * what the push before imported.
 */
function importState(ctx: PushContext): Promise<ImportState> {
  let state = importStates.get(ctx);
  if (!state) {
    state = (async () => {
      const untake = await ctx.importTurn();
      try {
        return { sender: new BatchSender(ctx.client, 1, ctx.signal), floor: await newestDealCreated(ctx), untake };
      } catch (e) {
        await untake().catch(() => {});
        throw e;
      }
    })();
    importStates.set(ctx, state);
  }
  return state;
}

/**
 * After the push's last deal import was answered: the turn goes back, and a later import of
 * this push (none is expected) reads the newest deal again after taking it anew.
 */
export async function endDealImports(ctx: PushContext): Promise<void> {
  const state = importStates.get(ctx);
  if (!state) return;
  importStates.delete(ctx);
  const taken = await state.catch(() => null);
  if (taken) {
    await taken.sender.idle();
    await taken.untake();
  }
}

/** When the newest deal in the portal was created (import may not create one before it); null: none. */
async function newestDealCreated(ctx: PushContext): Promise<Date | null> {
  let newest: Date | null = null;
  await ctx.sender.send([{ commands: [{ key: commandKey('dn'), method: 'crm.deal.list', params: { select: ['ID', 'DATE_CREATE'], order: { DATE_CREATE: 'DESC' }, start: 0 } }], item: null }],
    { write: false }, async (batch, answer) => {
      if (answer instanceof UnknownOutcomeError) throw answer;
      const key = batch[0]!.commands[0]!.key;
      const error = answer.errors.get(key);
      if (error) throw new PushStoppedError(`reading the portal's newest deal failed: crm.deal.list: ${error.code} ${error.description}`);
      newest = crmTime(rowsOf(answer.results.get(key))[0]?.DATE_CREATE);
    });
  return newest;
}

async function settleCreated(
  ctx: PushContext, pieces: Piece<Array<NewDeal & { index: number | null }>>[], answer: BatchAnswer | UnknownOutcomeError,
): Promise<Array<{ deal: DealOut; bitrixId: number; companyId: number; contactId: number | null }>> {
  if (answer instanceof UnknownOutcomeError) {
    // stays 'sending': looked up by ORIGIN_ID before anything is sent again
    const ids = pieces.flatMap((p) => p.item.map((d) => d.deal.deal_id));
    ctx.stats.unknownOutcomes += ids.length;
    ctx.log(`push: ${answer.message} (deals ${ids.slice(0, 5).join(', ')}${ids.length > 5 ? ` and ${ids.length - 5} more` : ''})`);
    await ctx.links.unanswered('deal', ids);
    return [];
  }
  const linked: Array<[string, Linked]> = [];
  const made: Array<{ deal: DealOut; bitrixId: number; companyId: number; contactId: number | null }> = [];
  for (const piece of pieces) {
    const key = piece.commands[0]!.key;
    const method = piece.commands[0]!.method;
    for (const d of piece.item) {
      const outcome = outcomeOf(answer, key, d.index);
      if (outcome.error) {
        if (outcome.error.code === 'ACCESS_DENIED' && method === 'crm.item.batchImport') {
          await ctx.links.forget('deal', piece.item.map((x) => x.deal.deal_id));
          throw new PushStoppedError('the webhook\'s user may not import deals (crm.item.batchImport: ACCESS_DENIED): give that user the ' +
            'CRM "Import" permission for deals, or push with --mode add, which starts the portal\'s automation for every deal it creates');
        }
        if (REFUSED_BEFORE_RUNNING.has(outcome.error.code)) {
          await ctx.links.forget('deal', [d.deal.deal_id]);
          ctx.stats.refused += 1;
          continue;
        }
        await recordFailure(ctx, 'deal', d.deal.deal_id, method, outcome.error.code, outcome.error.description);
        ctx.stats.deal.failed += 1;
        continue;
      }
      // linked without its rows yet: pushed_hash stays empty until they are set
      linked.push([d.deal.deal_id, { bitrixId: outcome.id!, how: 'created', mode: ctx.mode, pushedHash: null, pushed: pushedDeal(d.deal, d.companyId, d.contactId, null) }]);
      made.push({ deal: d.deal, bitrixId: outcome.id!, companyId: d.companyId, contactId: d.contactId });
      ctx.stats.deal.created += 1;
      ctx.countedOnce.add(`deal:${d.deal.deal_id}`);
    }
  }
  await ctx.links.linkedMany('deal', linked);
  ctx.progress();
  return made;
}

/**
 * The product rows of deals just created (crm.item.productrow.set, which replaces a deal's
 * rows): each set completes its deal's link. One that fails or gets no answer leaves the
 * link incomplete, and the update step of the next round or push sets them again.
 */
async function setRows(ctx: PushContext, created: ReadonlyArray<{ deal: DealOut; bitrixId: number; companyId: number; contactId: number | null }>): Promise<void> {
  const pieces = created.map((c) => ({
    commands: [{ key: commandKey('dr'), method: 'crm.item.productrow.set', params: { ownerType: DEAL_OWNER, ownerId: c.bitrixId, productRows: productRows(c.deal) } }],
    item: c,
  }));
  await ctx.sender.send(pieces, { write: true }, async (batch, answer) => {
    if (answer instanceof UnknownOutcomeError) return; // incomplete: set again by the update step
    const linked: Array<[string, Linked]> = [];
    for (const { commands: [command], item: c } of batch) {
      const error = answer.errors.get(command!.key);
      if (error) {
        if (!REFUSED_BEFORE_RUNNING.has(error.code)) await recordFailure(ctx, 'deal', c.deal.deal_id, command!.method, error.code, error.description);
        continue;
      }
      linked.push([c.deal.deal_id, { bitrixId: c.bitrixId, pushedHash: c.deal.out_hash, pushed: pushedDeal(c.deal, c.companyId, c.contactId, rowsKey(c.deal.rows)) }]);
    }
    await ctx.links.linkedMany('deal', linked);
  });
}

/**
 * Deals left 'sending' (a dead push, an answer lost), found again in the CRM by ORIGIN_ID:
 * linked with what the lost add carried; their rows are set by the update step. Those not
 * found are created again.
 */
export async function inspectUnknownDeals(ctx: PushContext, ownToo: boolean): Promise<void> {
  await resolveUnknown(ctx, 'deal', ownToo, async (found) => {
    const linked: Array<[string, Linked]> = [];
    for (const { row, bitrixId } of found) {
      linked.push([row.canonical_id, { bitrixId, how: row.how ?? 'created', createdAt: row.intent_at, pushedHash: null, pushed: row.pushed ?? row.intent ?? undefined }]);
      if (row.bitrix_id === null) {
        ctx.stats.deal.created += 1;
        ctx.countedOnce.add(`deal:${row.canonical_id}`);
      }
    }
    await ctx.links.linkedMany('deal', linked);
  });
}

/**
 * Linked deals whose row changed (or whose rows were never set): read from the CRM with their
 * product rows; only what differs from what was pushed and nobody changed since is written (a
 * manager's edits stand: a field, the rows, the company or contact moved by hand).
 */
export async function updateDeals(ctx: PushContext, rows: readonly LinkRow[]): Promise<void> {
  const out = await ctx.links.out<DealOut>('deal', rows.map((r) => r.canonical_id));
  const companies = await ctx.links.companyIds([...new Set([...out.values()].map((d) => d.company_id))]);
  const contacts = await dealContacts(ctx, out.values());
  type Work = { row: LinkRow; deal: DealOut; companyId: number; contactId: number | null; pushed: PushedDeal; read: string; readRows: string };
  const work: Work[] = [];
  for (const row of rows) {
    const deal = out.get(row.canonical_id);
    const company = deal ? companies.get(deal.company_id) : undefined;
    const contactId = deal?.contact_id ? contacts.get(deal.contact_id) ?? null : null;
    // released at the end: its company gone from the portal, or its contact still to come
    if (!deal || !company || contactId === 'waiting') continue;
    const pushed = (row.pushed ?? row.intent ?? { fields: {}, companyId: null, contactId: null, rows: null }) as PushedDeal;
    work.push({ row, deal, companyId: company.bitrixId, contactId, pushed, read: commandKey('dg'), readRows: commandKey('dp') });
  }
  const known = new Set(await withKnownStage(ctx, work));
  const crm = new Map<Work, { deal: Record<string, unknown>; rows: Array<Record<string, unknown>> }>();
  await ctx.sender.send([...known].map((w) => ({
    commands: [
      { key: w.read, method: 'crm.deal.get', params: { id: Number(w.row.bitrix_id) } },
      { key: w.readRows, method: 'crm.item.productrow.list', params: { filter: { '=ownerType': DEAL_OWNER, '=ownerId': Number(w.row.bitrix_id) } } },
    ],
    item: w,
  })), { write: false }, async (batch, answer) => {
    if (answer instanceof UnknownOutcomeError) throw answer;
    for (const { item: w } of batch) {
      const error = answer.errors.get(w.read) ?? answer.errors.get(w.readRows);
      if (error && isNotFound(error)) {
        await recordDeleted(ctx, 'deal', [w.deal.deal_id], `crm.deal.get: deal ${w.row.bitrix_id} Not found`);
      } else if (error) {
        await recordFailure(ctx, 'deal', w.deal.deal_id, 'crm.deal.get', error.code, `${error.description} (deal ${w.row.bitrix_id})`);
        ctx.stats.deal.failed += 1;
      } else {
        const listed = answer.results.get(w.readRows) as { productRows?: unknown } | undefined;
        crm.set(w, { deal: answer.results.get(w.read) as Record<string, unknown>, rows: Array.isArray(listed?.productRows) ? listed.productRows as Array<Record<string, unknown>> : [] });
      }
    }
  });
  const pieces: Piece<{ w: Work; next: PushedDeal }>[] = [];
  for (const [w, current] of crm) {
    const crmValues = crmDealValues(current.deal);
    const wanted = dealValues(w.deal);
    // A deal pushed open before open deals carried a close date: the CRM holds the portal's
    // default or a manager's choice, and which one cannot be told. It stays while the order is
    // open; the day the order closes replaces it, as it did then.
    if (!w.pushed.fields.CLOSEDATE) {
      if (w.deal.close_at === null) delete wanted.CLOSEDATE;
      else crmValues.CLOSEDATE = '';
    }
    const own = scalarChanges(crmValues, w.pushed.fields, wanted);
    const fields: Record<string, unknown> = { ...own.changes };
    const next: PushedDeal = { fields: own.kept, companyId: w.pushed.companyId, contactId: w.pushed.contactId, rows: w.pushed.rows };
    if (Object.keys(fields).length > 0) fields.IS_MANUAL_OPPORTUNITY = 'Y';
    // the company and the contact move with the canonical row unless a manager moved them
    const crmCompany = Number(current.deal.COMPANY_ID) || null;
    if (w.pushed.companyId !== w.companyId && (w.pushed.companyId === null || crmCompany === w.pushed.companyId)) {
      fields.COMPANY_ID = w.companyId;
      next.companyId = w.companyId;
    }
    const crmContact = Number(current.deal.CONTACT_ID) || null;
    // an empty CONTACT_IDS does not clear them (a form-encoded command leaves an empty array
    // out), and crm.deal.contact.items.delete would take a manager's contacts too: ours goes alone
    let contactOff: Command | null = null;
    if (w.pushed.contactId !== w.contactId && crmContact === w.pushed.contactId) {
      if (w.contactId === null) {
        contactOff = { key: commandKey('dc'), method: 'crm.deal.contact.delete', params: { id: Number(w.row.bitrix_id), fields: { CONTACT_ID: w.pushed.contactId } } };
      } else {
        fields.CONTACT_IDS = [w.contactId];
      }
      next.contactId = w.contactId;
    }
    const commands: Command[] = [];
    if (Object.keys(fields).length > 0) {
      commands.push({ key: commandKey('du'), method: 'crm.deal.update', params: { id: Number(w.row.bitrix_id), fields, params: { REGISTER_SONET_EVENT: 'N' } } });
    }
    if (contactOff) commands.push(contactOff);
    // the rows: set when ours changed and the CRM still has what was pushed (or none were set yet)
    const ours = rowsKey(w.deal.rows);
    const theirs = rowsKey(current.rows);
    if (ours !== theirs && (w.pushed.rows === null || theirs === w.pushed.rows)) {
      commands.push({ key: commandKey('dr'), method: 'crm.item.productrow.set', params: { ownerType: DEAL_OWNER, ownerId: Number(w.row.bitrix_id), productRows: productRows(w.deal) } });
      next.rows = ours;
    } else if (ours === theirs) {
      next.rows = ours;
    }
    pieces.push({ commands, item: { w, next } });
  }
  for (const { item } of pieces.filter((p) => p.commands.length === 0)) {
    await ctx.links.linked('deal', item.w.deal.deal_id, { bitrixId: Number(item.w.row.bitrix_id), pushedHash: item.w.deal.out_hash, pushed: item.next });
    countSettled(ctx, 'deal', item.w.deal.deal_id, 'unchanged');
  }
  await ctx.links.recordIntent('deal', pieces.filter((p) => p.commands.length > 0).map((p) => [p.item.w.deal.deal_id, p.item.next] as const));
  await ctx.sender.send(pieces.filter((p) => p.commands.length > 0), { write: true }, async (batch, answer) => {
    for (const piece of batch) {
      const { w, next } = piece.item;
      if (answer instanceof UnknownOutcomeError) {
        // read and sent again in this run: it writes only what still differs
        ctx.stats.unknownOutcomes += 1;
        ctx.again.deal.add(w.deal.deal_id);
        ctx.lostUpdates.add(`deal:${w.deal.deal_id}`);
        continue;
      }
      const failed = piece.commands.map((c) => [c, answer.errors.get(c.key)] as const).find(([, e]) => e !== undefined);
      if (failed) {
        const [command, error] = failed;
        if (REFUSED_BEFORE_RUNNING.has(error!.code)) {
          ctx.stats.refused += 1; // the row stays changed: the next push sends it
        } else {
          await recordFailure(ctx, 'deal', w.deal.deal_id, command.method, error!.code, error!.description);
          ctx.stats.deal.failed += 1;
        }
        continue;
      }
      await ctx.links.linked('deal', w.deal.deal_id, { bitrixId: Number(w.row.bitrix_id), pushedHash: w.deal.out_hash, pushed: next });
      countSettled(ctx, 'deal', w.deal.deal_id, 'updated');
    }
    ctx.progress();
  });
  await ctx.links.release('deal', rows.map((r) => r.canonical_id));
}
