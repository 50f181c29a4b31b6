import { BATCH_MAX, commandKey, rowsOf, type Piece } from './batches.js';
import { recordFailure, recordPartFailure, type PushContext } from './context.js';
import {
  addressFields, bankAddFields, companyAddFields, companyImportItem, ENTITY_TYPE, LEGAL_ADDRESS, ORIGINATOR, pushedCompany,
  requisiteAddFields, type CompanyOut, type PushedCompany,
} from './fields.js';
import type { LinkRow, Linked } from './links.js';
import { listByKey, listRowsByKey, outcomeOf, resolveUnknown, type Found } from './lookups.js';
import { PushStoppedError, REFUSED_BEFORE_RUNNING, UnknownOutcomeError } from './portal-client.js';
import type { BatchAnswer, Command } from './rest.js';
import { updateCompanies } from './company-update.js';

/** crm.item.batchImport takes at most 20 items. */
export const IMPORT_MAX = 20;

/**
 * Companies this session claimed as new: each is first looked for in the CRM by its INN
 * (crm.requisite.list, 25 INNs a command) and adopted if it is there; the others are created
 * as one chain each inside a batch — the company (crm.item.batchImport in import mode, no
 * automation; crm.company.add otherwise), its requisite, bank detail and legal address,
 * linked by $result references. Returns once the lookups are done and the creating batches
 * queued; `sending` settles when they are answered and recorded. An add whose batch got no
 * answer stays 'sending', to be looked up by ORIGIN_ID (inspectUnknown) before anything is
 * sent again.
 */
export async function createCompanies(ctx: PushContext, ids: readonly string[]): Promise<{ sending: Promise<void> }> {
  const out = await ctx.links.out<CompanyOut>('company', ids);
  await ctx.links.forget('company', ids.filter((id) => !out.has(id))); // no longer ready since it was claimed
  const existing = await findByInn(ctx, [...out.values()]);
  // of those, companies an earlier push of ours created (our ORIGINATOR_ID and ORIGIN_ID; their
  // links lost): ours again, so the clean base's changes keep reaching them
  const foundIds = [...existing.values()].map((f) => f.companyId);
  const origins = foundIds.length > 0
    ? await listRowsByKey(ctx, 'crm.company.list', {}, '@ID', foundIds, ['ID', 'ORIGINATOR_ID', 'ORIGIN_ID', 'DATE_CREATE'], 'ID')
    : new Map<string, Array<Record<string, unknown>>>();
  const adopted: Array<[string, Linked]> = [];
  const ours: Found[] = [];
  for (const company of out.values()) {
    const found = existing.get(company.inn);
    if (!found) continue;
    const crm = origins.get(String(found.companyId))?.[0];
    if (crm && crm.ORIGINATOR_ID === ORIGINATOR && String(crm.ORIGIN_ID) === company.company_id) {
      ours.push({ row: claimedRow(company.company_id), bitrixId: found.companyId, createdAt: crmTime(crm.DATE_CREATE) });
      continue;
    }
    // a manager's company: linked, its fields and requisite left as they are; phones and e-mails it lacks are added later
    adopted.push([company.company_id, {
      bitrixId: found.companyId, requisiteId: found.requisiteId, how: 'adopted', pushedHash: null, retake: true,
      pushed: { title: null, phones: [], emails: [], requisite: null, bank: null, address: null },
    }]);
  }
  await ctx.links.linkedMany('company', adopted);
  await relinkCompanies(ctx, ours, true);
  ctx.stats.company.adopted += adopted.length + ours.length;
  for (const id of [...adopted.map(([a]) => a), ...ours.map((f) => f.row.canonical_id)]) ctx.countedOnce.add(`company:${id}`); // completed by the next step, counted once
  const toCreate = [...out.values()].filter((c) => !existing.has(c.inn));
  // what each add carries, kept before it is sent: an entity found after a lost answer holds this
  await ctx.links.recordIntent('company', toCreate.map((c) => [c.company_id, pushedCompany(c)] as const));
  const pieces = ctx.mode === 'import' ? importPieces(ctx, toCreate, await ctx.client.pacing.unitsPerRequest('crm.item.batchImport')) : addPieces(ctx, toCreate);
  return { sending: ctx.sender.send(pieces, { write: true, sending: (batch, sent) => ctx.links.markSent('company', batch.flatMap((p) => p.item.map((c) => c.company.company_id)), sent) },
    (batch, answer) => settleCreated(ctx, batch, answer)) };
}

/** One company's chain after the company itself: requisite, bank detail, legal address. */
interface ChainKeys {
  company: CompanyOut;
  /** The command or reference the company id comes from. */
  companyKey: string;
  itemIndex: number | null;
  requisite: string;
  bank: string | null;
  address: string | null;
}

function requisiteChain(ctx: PushContext, company: CompanyOut, companyRef: string | number): { commands: Command[]; keys: Omit<ChainKeys, 'company' | 'companyKey' | 'itemIndex'> } {
  const requisite = commandKey('rq');
  const commands: Command[] = [{
    key: requisite, method: 'crm.requisite.add',
    params: { fields: requisiteAddFields(company, ctx.presets[company.preset], companyRef) },
  }];
  let bank: string | null = null;
  let address: string | null = null;
  const fields = bankAddFields(company, `$result[${requisite}]`);
  if (company.bank_account || company.bank_bik) {
    bank = commandKey('bd');
    commands.push({ key: bank, method: 'crm.requisite.bankdetail.add', params: { fields } });
  }
  if (company.legal_address) {
    address = commandKey('ad');
    commands.push({ key: address, method: 'crm.address.add', params: { fields: addressFields(company, `$result[${requisite}]`) } });
  }
  return { commands, keys: { requisite, bank, address } };
}

/**
 * Import mode: up to 20 companies per crm.item.batchImport (fewer when the method's execution
 * time allows fewer a request), with their chains, within one batch.
 */
export function importPieces(ctx: PushContext, companies: readonly CompanyOut[], perRequest: number): Piece<ChainKeys[]>[] {
  const pieces: Piece<ChainKeys[]>[] = [];
  const most = Math.max(1, Math.min(IMPORT_MAX, perRequest));
  let i = 0;
  while (i < companies.length) {
    const key = commandKey('ci');
    const chains: ChainKeys[] = [];
    const dependents: Command[] = [];
    while (i < companies.length && chains.length < most) {
      const company = companies[i]!;
      const chain = requisiteChain(ctx, company, `$result[${key}][items][${chains.length}][item][id]`);
      if (1 + dependents.length + chain.commands.length > BATCH_MAX) break;
      dependents.push(...chain.commands);
      chains.push({ company, companyKey: key, itemIndex: chains.length, ...chain.keys });
      i += 1;
    }
    const imported: Command = { key, method: 'crm.item.batchImport', params: { entityTypeId: ENTITY_TYPE.company, data: chains.map((c) => companyImportItem(c.company)) } };
    pieces.push({ commands: [imported, ...dependents], units: new Map([[key, chains.length]]), item: chains });
  }
  return pieces;
}

/** Add mode: crm.company.add without a feed event (REGISTER_SONET_EVENT=N), then the chain. */
export function addPieces(ctx: PushContext, companies: readonly CompanyOut[]): Piece<ChainKeys[]>[] {
  return companies.map((company) => {
    const key = commandKey('co');
    const chain = requisiteChain(ctx, company, `$result[${key}]`);
    const add: Command = { key, method: 'crm.company.add', params: { fields: companyAddFields(company), params: { REGISTER_SONET_EVENT: 'N' } } };
    return { commands: [add, ...chain.commands], item: [{ company, companyKey: key, itemIndex: null, ...chain.keys }] };
  });
}

async function settleCreated(ctx: PushContext, pieces: Piece<ChainKeys[]>[], answer: BatchAnswer | UnknownOutcomeError): Promise<void> {
  if (answer instanceof UnknownOutcomeError) {
    // stays 'sending': looked up by ORIGIN_ID before anything is sent again
    const ids = pieces.flatMap((p) => p.item.map((c) => c.company.company_id));
    ctx.stats.unknownOutcomes += ids.length;
    ctx.log(`push: ${answer.message} (companies ${ids.slice(0, 5).join(', ')}${ids.length > 5 ? ` and ${ids.length - 5} more` : ''})`);
    await ctx.links.unanswered('company', ids);
    return;
  }
  const linked: Array<[string, Linked]> = [];
  const failures: Array<readonly [string, string, { code: string; description: string }]> = [];
  for (const piece of pieces) {
    for (const chain of piece.item) {
      const company = chain.company;
      const made = outcomeOf(answer, chain.companyKey, chain.itemIndex);
      const method = chain.itemIndex === null ? 'crm.company.add' : 'crm.item.batchImport';
      if (made.error) {
        if (made.error.code === 'ACCESS_DENIED' && method === 'crm.item.batchImport') {
          await ctx.links.forget('company', piece.item.map((c) => c.company.company_id));
          throw new PushStoppedError('the webhook\'s user may not import companies (crm.item.batchImport: ACCESS_DENIED): give that user the ' +
            'CRM "Import" permission for companies and contacts (CRM settings → Access permissions), or push with --mode add, which creates through ' +
            'crm.company.add and so starts the portal\'s automation rules and business processes for every company it creates');
        }
        if (REFUSED_BEFORE_RUNNING.has(made.error.code)) {
          await ctx.links.forget('company', [company.company_id]); // not made: created by the next push
          ctx.stats.refused += 1;
          continue;
        }
        await recordFailure(ctx, 'company', company.company_id, method, made.error.code, made.error.description);
        ctx.stats.company.failed += 1;
        continue;
      }
      const requisite = outcomeOf(answer, chain.requisite);
      const bank = chain.bank ? outcomeOf(answer, chain.bank) : null;
      const address = chain.address ? outcomeOf(answer, chain.address) : null;
      const partErrors: Array<[string, { code: string; description: string }]> = [];
      for (const [part, got, partMethod] of [[requisite, true, 'crm.requisite.add'], [bank, !!chain.bank, 'crm.requisite.bankdetail.add'], [address, !!chain.address, 'crm.address.add']] as const) {
        if (got && part?.error && !REFUSED_BEFORE_RUNNING.has(part.error.code)) partErrors.push([partMethod, part.error]);
      }
      const pushed = pushedCompany(company);
      const complete = !requisite.error && !bank?.error && !address?.error;
      linked.push([company.company_id, {
        bitrixId: made.id!,
        requisiteId: requisite.id,
        bankdetailId: bank && !bank.error ? bank.id : null,
        hasAddress: address !== null && !address.error,
        how: 'created',
        mode: ctx.mode,
        pushedHash: complete ? company.out_hash : null,
        pushed: { ...pushed, requisite: requisite.error ? null : pushed.requisite, bank: bank?.error ? null : pushed.bank, address: address?.error ? null : pushed.address },
      }]);
      ctx.stats.company.created += 1;
      ctx.createdCompanies.add(company.company_id);
      failures.push(...partErrors.map(([m, e]) => [company.company_id, m, e] as const));
    }
  }
  await ctx.links.linkedMany('company', linked);
  for (const [id, method, error] of failures) await recordPartFailure(ctx, 'company', id, method, error.code, error.description);
  ctx.progress();
}

/**
 * Companies by INN in the CRM (crm.requisite.list, @RQ_INN, 25 INNs a command): the oldest
 * company with a requisite of that INN, and that requisite.
 */
export async function findByInn(ctx: PushContext, companies: readonly CompanyOut[]): Promise<Map<string, { companyId: number; requisiteId: number }>> {
  const found = new Map<string, { companyId: number; requisiteId: number }>();
  const inns = [...new Set(companies.map((c) => c.inn))];
  const pieces: Piece<string[]>[] = [];
  for (let i = 0; i < inns.length; i += 25) {
    const chunk = inns.slice(i, i + 25);
    pieces.push({
      commands: [{ key: commandKey('inn'), method: 'crm.requisite.list', params: {
        filter: { '@RQ_INN': chunk, ENTITY_TYPE_ID: ENTITY_TYPE.company }, select: ['ID', 'ENTITY_ID', 'RQ_INN'], order: { ENTITY_ID: 'ASC', ID: 'ASC' } } }],
      item: chunk,
    });
  }
  await ctx.sender.send(pieces, { write: false }, async (batch, answer) => {
    if (answer instanceof UnknownOutcomeError) throw answer;
    for (const piece of batch) {
      const key = piece.commands[0]!.key;
      const error = answer.errors.get(key);
      if (error) throw new PushStoppedError(`looking companies up by INN failed: crm.requisite.list: ${error.code} ${error.description}`);
      const rows = rowsOf(answer.results.get(key));
      for (const row of rows) {
        const inn = String(row.RQ_INN ?? '');
        if (!found.has(inn)) found.set(inn, { companyId: Number(row.ENTITY_ID), requisiteId: Number(row.ID) });
      }
      if (rows.length >= 50) {
        // more requisites than a page: the INNs not seen yet are asked one by one
        for (const inn of piece.item.filter((x) => !found.has(x))) {
          const single = await ctx.client.read('crm.requisite.list', { filter: { RQ_INN: inn, ENTITY_TYPE_ID: ENTITY_TYPE.company }, select: ['ID', 'ENTITY_ID'], order: { ENTITY_ID: 'ASC' } });
          const row = rowsOf(single.result)[0];
          if (row) found.set(inn, { companyId: Number(row.ENTITY_ID), requisiteId: Number(row.ID) });
        }
      }
    }
  });
  return found;
}

/**
 * Companies left 'sending' (a dead push, an answer lost), found again in the CRM and linked
 * (relinkCompanies); what is missing is added, and what differs sent again, by the next step.
 * Those not found are created again (see resolveUnknown).
 */
export async function inspectUnknown(ctx: PushContext, ownToo: boolean): Promise<void> {
  await resolveUnknown(ctx, 'company', ownToo, async (found) => {
    await relinkCompanies(ctx, found, false);
    for (const { row } of found) {
      if (row.bitrix_id !== null) continue;
      ctx.stats.company.created += 1;
      ctx.countedOnce.add(`company:${row.canonical_id}`);
    }
  });
}

/**
 * Companies of ours found in the CRM, linked with the parts they have (their requisite, bank
 * detail and legal address looked up too). As pushed: what a lost add carried (its intent), or
 * for a company linked before (an update whose answer was lost) what was pushed before it — a
 * part counts only if the CRM has it. With neither (the links were lost: what was pushed is
 * not known), the clean base as it is now: what the CRM holds otherwise stays — it may be a
 * manager's edit — and the clean base's later changes reach it; only missing parts are added.
 * `retake`: this run may take the rows again to bring them up to date.
 */
async function relinkCompanies(ctx: PushContext, found: readonly Found[], retake: boolean): Promise<void> {
  if (found.length === 0) return;
  const ids = found.map((f) => f.bitrixId);
  const requisites = await listByKey(ctx, 'crm.requisite.list', { ENTITY_TYPE_ID: ENTITY_TYPE.company }, '@ENTITY_ID', ids, ['ID', 'ENTITY_ID'], 'ENTITY_ID');
  const requisiteIds = [...requisites.values()].map((r) => r[0]!);
  const banks = await listByKey(ctx, 'crm.requisite.bankdetail.list', {}, '@ENTITY_ID', requisiteIds, ['ID', 'ENTITY_ID'], 'ENTITY_ID');
  const addresses = await listByKey(ctx, 'crm.address.list', { TYPE_ID: LEGAL_ADDRESS, ENTITY_TYPE_ID: ENTITY_TYPE.requisite }, '@ENTITY_ID', requisiteIds, ['ENTITY_ID', 'TYPE_ID'], 'ENTITY_ID', 'ENTITY_ID');
  const out = await ctx.links.out<CompanyOut>('company', found.filter((f) => !f.row.pushed && !f.row.intent).map((f) => f.row.canonical_id));
  const linked: Array<[string, Linked]> = [];
  for (const { row, bitrixId, createdAt } of found) {
    const requisiteId = requisites.get(String(bitrixId))?.[0] ?? null;
    const bankId = requisiteId === null ? null : banks.get(String(requisiteId))?.[0] ?? null;
    const hasAddress = requisiteId !== null && addresses.has(String(requisiteId));
    const before = row.pushed as PushedCompany | null;
    const intent = row.intent as PushedCompany | null;
    const company = out.get(row.canonical_id);
    const basis = before ?? intent ?? (company ? pushedCompany(company) : null);
    const pushed = basis && {
      ...basis,
      requisite: requisiteId === null ? null : before?.requisite ?? intent?.requisite ?? basis.requisite,
      bank: bankId === null ? null : before?.bank ?? intent?.bank ?? basis.bank,
      address: hasAddress ? before?.address ?? intent?.address ?? basis.address : null,
    };
    linked.push([row.canonical_id, {
      bitrixId, requisiteId, bankdetailId: bankId, hasAddress, how: row.how ?? 'created',
      createdAt: createdAt ?? row.sent_at ?? row.intent_at, pushedHash: null, pushed: pushed ?? undefined, retake,
    }]);
  }
  await ctx.links.linkedMany('company', linked);
}

/** A row claimed to create in this run, as found again: nothing pushed or intended is known of it. */
export function claimedRow(canonicalId: string): LinkRow {
  return {
    canonical_id: canonicalId, bitrix_id: null, requisite_id: null, bankdetail_id: null, has_address: false, state: 'sending', how: null,
    pushed_hash: null, pushed: null, intent: null, intent_at: null, sent_at: null,
  };
}

/** A CRM date (DATE_CREATE) as a time, or null. */
export function crmTime(value: unknown): Date | null {
  const ms = Date.parse(String(value ?? ''));
  return Number.isFinite(ms) ? new Date(ms) : null;
}

/** Linked companies whose row changed since the last push, or whose chain is not complete. */
export async function reconcileCompanies(ctx: PushContext, rows: readonly LinkRow[]): Promise<void> {
  await updateCompanies(ctx, rows, requisiteChain);
}
