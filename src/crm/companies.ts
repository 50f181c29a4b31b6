import { BATCH_MAX, commandKey, rowsOf, type Piece } from './batches.js';
import { recordFailure, type PushContext } from './context.js';
import {
  addressFields, bankAddFields, companyAddFields, companyImportItem, ENTITY_TYPE, LEGAL_ADDRESS, ORIGINATOR, pushedCompany,
  requisiteAddFields, type CompanyOut,
} from './fields.js';
import type { LinkRow, Linked } from './links.js';
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
  const adopted: Array<[string, Linked]> = [];
  for (const company of out.values()) {
    const found = existing.get(company.inn);
    if (!found) continue;
    // a manager's company: linked, its fields and requisite left as they are; phones and e-mails it lacks are added later
    adopted.push([company.company_id, {
      bitrixId: found.companyId, requisiteId: found.requisiteId, how: 'adopted', pushedHash: null, retake: true,
      pushed: { title: null, phones: [], emails: [], requisite: null, bank: null, address: null },
    }]);
  }
  await ctx.links.linkedMany('company', adopted);
  ctx.stats.company.adopted += adopted.length;
  const toCreate = [...out.values()].filter((c) => !existing.has(c.inn));
  const pieces = ctx.mode === 'import' ? importPieces(ctx, toCreate) : addPieces(ctx, toCreate);
  return { sending: ctx.sender.send(pieces, { write: true }, (batch, answer) => settleCreated(ctx, batch, answer)) };
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

/** Import mode: up to 20 companies per crm.item.batchImport, with their chains, within one batch. */
function importPieces(ctx: PushContext, companies: readonly CompanyOut[]): Piece<ChainKeys[]>[] {
  const pieces: Piece<ChainKeys[]>[] = [];
  let i = 0;
  while (i < companies.length) {
    const key = commandKey('ci');
    const chains: ChainKeys[] = [];
    const dependents: Command[] = [];
    while (i < companies.length && chains.length < IMPORT_MAX) {
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
function addPieces(ctx: PushContext, companies: readonly CompanyOut[]): Piece<ChainKeys[]>[] {
  return companies.map((company) => {
    const key = commandKey('co');
    const chain = requisiteChain(ctx, company, `$result[${key}]`);
    const add: Command = { key, method: 'crm.company.add', params: { fields: companyAddFields(company), params: { REGISTER_SONET_EVENT: 'N' } } };
    return { commands: [add, ...chain.commands], item: [{ company, companyKey: key, itemIndex: null, ...chain.keys }] };
  });
}

/** The id a command answered, or the error it got. */
export function outcomeOf(answer: BatchAnswer, key: string, itemIndex: number | null = null): { id: number | null; error: { code: string; description: string } | null } {
  const error = answer.errors.get(key);
  if (error) return { id: null, error };
  const result = answer.results.get(key);
  if (itemIndex !== null) {
    const entry = (result as { items?: Array<{ item?: { id?: unknown }; error?: unknown; error_description?: unknown }> } | undefined)?.items?.[itemIndex];
    if (entry?.item?.id !== undefined) return { id: Number(entry.item.id), error: null };
    return { id: null, error: { code: String(entry?.error ?? ''), description: String(entry?.error_description ?? 'no answer for this item') } };
  }
  if (result === undefined) return { id: null, error: { code: '', description: 'the batch has no answer for this command' } };
  return { id: typeof result === 'number' || typeof result === 'string' ? Number(result) : null, error: null };
}

async function settleCreated(ctx: PushContext, pieces: Piece<ChainKeys[]>[], answer: BatchAnswer | UnknownOutcomeError): Promise<void> {
  if (answer instanceof UnknownOutcomeError) {
    // stays 'sending': looked up by ORIGIN_ID before anything is sent again
    ctx.stats.unknownOutcomes += pieces.reduce((n, p) => n + p.item.length, 0);
    ctx.log(`push: ${answer.message}`);
    return;
  }
  const linked: Array<[string, Linked]> = [];
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
          await ctx.links.forget('company', [company.company_id]); // not made: claimed again as new
          continue;
        }
        await recordFailure(ctx, 'company', company.company_id, method, made.error.code, made.error.description);
        ctx.stats.company.failed += 1;
        continue;
      }
      const requisite = outcomeOf(answer, chain.requisite);
      const bank = chain.bank ? outcomeOf(answer, chain.bank) : null;
      const address = chain.address ? outcomeOf(answer, chain.address) : null;
      for (const [part, got, partMethod] of [[requisite, true, 'crm.requisite.add'], [bank, !!chain.bank, 'crm.requisite.bankdetail.add'], [address, !!chain.address, 'crm.address.add']] as const) {
        if (got && part?.error && !REFUSED_BEFORE_RUNNING.has(part.error.code)) {
          await ctx.pool.query(
            `insert into etl.crm_push_error (run_id, portal, entity, canonical_id, method, code, description) values ($1, $2, 'company', $3, $4, $5, $6)`,
            [ctx.runId, ctx.links.portal, company.company_id, partMethod, part.error.code, part.error.description]);
        }
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
    }
  }
  await ctx.links.linkedMany('company', linked);
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
 * Companies left 'sending' — by a push that died, or by this one after a batch got no answer —
 * looked up in the CRM by ORIGINATOR_ID and ORIGIN_ID, with their requisite, bank detail and
 * legal address: found ones are linked with what they have (what is missing is added by the
 * next step), the rest are forgotten and created again.
 */
export async function inspectUnknown(ctx: PushContext, ownToo: boolean): Promise<void> {
  const rows = await ctx.links.claimUnknown('company', ownToo);
  if (rows.length === 0) return;
  const ids = rows.map((r) => r.canonical_id);
  const companies = await listByKey(ctx, 'crm.company.list', { ORIGINATOR_ID: ORIGINATOR }, '@ORIGIN_ID', ids, ['ID', 'ORIGIN_ID'], 'ORIGIN_ID');
  const bitrixIds = [...companies.values()].map((c) => c[0]!);
  const requisites = await listByKey(ctx, 'crm.requisite.list', { ENTITY_TYPE_ID: ENTITY_TYPE.company }, '@ENTITY_ID', bitrixIds, ['ID', 'ENTITY_ID'], 'ENTITY_ID');
  const requisiteIds = [...requisites.values()].map((r) => r[0]!);
  const banks = await listByKey(ctx, 'crm.requisite.bankdetail.list', {}, '@ENTITY_ID', requisiteIds, ['ID', 'ENTITY_ID'], 'ENTITY_ID');
  const addresses = await listByKey(ctx, 'crm.address.list', { TYPE_ID: LEGAL_ADDRESS, ENTITY_TYPE_ID: ENTITY_TYPE.requisite }, '@ENTITY_ID', requisiteIds, ['ENTITY_ID', 'TYPE_ID'], 'ENTITY_ID', 'ENTITY_ID');
  const out = await ctx.links.out<CompanyOut>('company', ids);
  const gone: string[] = [];
  for (const row of rows) {
    const found = companies.get(row.canonical_id);
    if (!found) {
      gone.push(row.canonical_id);
      continue;
    }
    if (found.length > 1) {
      ctx.stats.duplicatesFound += found.length - 1;
      ctx.log(`push: company ${row.canonical_id} is in the CRM ${found.length} times (ids ${found.join(', ')}); linked to ${found[0]}`);
    }
    const requisiteId = requisites.get(String(found[0]))?.[0] ?? null;
    const bankId = requisiteId === null ? null : banks.get(String(requisiteId))?.[0] ?? null;
    const hasAddress = requisiteId !== null && addresses.has(String(requisiteId));
    const company = out.get(row.canonical_id);
    const pushed = company ? pushedCompany(company) : null;
    await ctx.links.linked('company', row.canonical_id, {
      bitrixId: found[0]!, requisiteId, bankdetailId: bankId, hasAddress, how: 'created', pushedHash: null,
      pushed: pushed && { ...pushed, requisite: requisiteId === null ? null : pushed.requisite, bank: bankId === null ? null : pushed.bank, address: hasAddress ? pushed.address : null },
    });
    ctx.stats.company.created += 1;
  }
  await ctx.links.forget('company', gone);
}

/**
 * Rows of a list method for many keys at once (`@FIELD` filter, 50 keys a command), grouped by
 * `groupBy`: each group's values of `pick` (ID by default), lowest first. Pages past the first
 * are read with `start`.
 */
export async function listByKey(
  ctx: PushContext, method: string, filter: Record<string, unknown>, inField: string, keys: ReadonlyArray<string | number>,
  select: string[], groupBy: string, pick = 'ID',
): Promise<Map<string, number[]>> {
  const grouped = new Map<string, number[]>();
  const pieces: Piece<{ chunk: ReadonlyArray<string | number>; start: number }>[] = [];
  const command = (chunk: ReadonlyArray<string | number>, start: number): Piece<{ chunk: ReadonlyArray<string | number>; start: number }> => ({
    commands: [{ key: commandKey('ls'), method, params: { filter: { ...filter, [inField]: chunk }, select, order: { ID: 'ASC' }, start } }],
    item: { chunk, start },
  });
  for (let i = 0; i < keys.length; i += 50) pieces.push(command(keys.slice(i, i + 50), 0));
  while (pieces.length > 0) {
    const more: typeof pieces = [];
    await ctx.sender.send(pieces.splice(0), { write: false }, async (batch, answer) => {
      if (answer instanceof UnknownOutcomeError) throw answer;
      for (const piece of batch) {
        const key = piece.commands[0]!.key;
        const error = answer.errors.get(key);
        if (error) throw new PushStoppedError(`${method} failed while looking entities up: ${error.code} ${error.description}`);
        const rows = rowsOf(answer.results.get(key));
        for (const row of rows) {
          const group = String(row[groupBy]);
          const list = grouped.get(group) ?? [];
          list.push(Number(row[pick]));
          grouped.set(group, list);
        }
        const total = answer.totals.get(key);
        if (rows.length >= 50 && (total === undefined || total > piece.item.start + rows.length)) more.push(command(piece.item.chunk, piece.item.start + 50));
      }
    });
    pieces.push(...more);
  }
  for (const list of grouped.values()) list.sort((a, b) => a - b);
  return grouped;
}

/** Linked companies whose row changed since the last push, or whose chain is not complete. */
export async function reconcileCompanies(ctx: PushContext, rows: readonly LinkRow[]): Promise<void> {
  await updateCompanies(ctx, rows, requisiteChain);
}
