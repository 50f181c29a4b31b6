import { commandKey, rowsOf, type Piece } from './batches.js';
import { isDeepStrictEqual } from 'node:util';
import { countSettled, isNotFound, recordDeleted, recordFailure, recordPartFailure, type PushContext } from './context.js';
import { multifieldChanges, ownedAfter, ownedValues, scalarChanges, type CrmMultifield } from './diff.js';
import {
  ADDRESS_SELECT, addressFields, addressValues, BANK_SELECT, bankAddFields, bankValues, ENTITY_TYPE, LEGAL_ADDRESS, REQUISITE_SELECT,
  requisiteValues, sameValue, type CompanyOut, type PushedCompany,
} from './fields.js';
import type { LinkRow } from './links.js';
import { outcomeOf } from './lookups.js';
import { REFUSED_BEFORE_RUNNING, UnknownOutcomeError } from './portal-client.js';
import type { BatchAnswer, Command } from './rest.js';

type RequisiteChain = (ctx: PushContext, company: CompanyOut, companyRef: string | number) => {
  commands: Command[];
  keys: { requisite: string; bank: string | null; address: string | null };
};

interface Work {
  row: LinkRow;
  company: CompanyOut;
  pushed: PushedCompany;
  bitrixId: number;
  requisiteId: number | null;
  reads: { company?: string; requisite?: string; bank?: string; address?: string };
  crm: { company?: Record<string, unknown>; requisite?: Record<string, unknown>; bank?: Record<string, unknown>; address?: Record<string, unknown> };
  /** A part could not be read: its changes wait, and the row is not recorded as pushed. */
  unread: boolean;
}

const same = (a: unknown, b: unknown) => isDeepStrictEqual(a ?? null, b ?? null);

const sameList = (kind: 'PHONE' | 'EMAIL', a: readonly string[], b: readonly string[]) =>
  same([...a].map((v) => sameValue(kind, v)).sort(), [...b].map((v) => sameValue(kind, v)).sort());

/**
 * Brings linked companies to their canonical rows, a manager's edits kept: what changed is
 * read from the CRM first (crm.company.get, the requisite, bank detail, address), then only
 * the fields that differ from what was pushed last and that nobody changed in the CRM since
 * are written; phones and e-mails we want and the CRM lacks are added, ours we no longer want
 * removed, a manager's never. A created company missing a part (its requisite, bank detail,
 * address: a failure or a lost answer before) gets it. An adopted company (a manager's) only
 * gets the phones and e-mails it lacks.
 */
export async function updateCompanies(ctx: PushContext, rows: readonly LinkRow[], requisiteChain: RequisiteChain): Promise<void> {
  const out = await ctx.links.out<CompanyOut>('company', rows.map((r) => r.canonical_id));
  const work: Work[] = [];
  for (const row of rows) {
    const company = out.get(row.canonical_id);
    if (!company) continue;
    const pushed = (row.pushed ?? { title: null, phones: [], emails: [], requisite: null, bank: null, address: null }) as PushedCompany;
    work.push({ row, company, pushed, bitrixId: Number(row.bitrix_id), requisiteId: row.requisite_id ? Number(row.requisite_id) : null, reads: {}, crm: {}, unread: false });
  }
  // reads: what the CRM holds of what we would change
  const readPieces: Piece<Work>[] = [];
  for (const w of work) {
    const commands: Command[] = [];
    const adopted = w.row.how === 'adopted';
    if (!same(w.pushed.title, w.company.title) && !adopted || !sameList('PHONE', w.pushed.phones, w.company.phones) || !sameList('EMAIL', w.pushed.emails, w.company.emails) || adopted) {
      w.reads.company = commandKey('get');
      commands.push({ key: w.reads.company, method: 'crm.company.get', params: { id: w.bitrixId } });
    }
    if (!adopted && w.requisiteId !== null) {
      if (w.pushed.requisite && !same(w.pushed.requisite, requisiteValues(w.company))) {
        w.reads.requisite = commandKey('rqg');
        commands.push({ key: w.reads.requisite, method: 'crm.requisite.list', params: { filter: { ID: w.requisiteId }, select: REQUISITE_SELECT } });
      }
      if (w.row.bankdetail_id && w.pushed.bank && !same(w.pushed.bank, bankValues(w.company))) {
        w.reads.bank = commandKey('bdg');
        commands.push({ key: w.reads.bank, method: 'crm.requisite.bankdetail.list', params: { filter: { ID: Number(w.row.bankdetail_id) }, select: BANK_SELECT } });
      }
      if (w.row.has_address && w.pushed.address && !same(w.pushed.address, addressValues(w.company))) {
        w.reads.address = commandKey('adg');
        commands.push({ key: w.reads.address, method: 'crm.address.list', params: {
          filter: { TYPE_ID: LEGAL_ADDRESS, ENTITY_TYPE_ID: ENTITY_TYPE.requisite, ENTITY_ID: w.requisiteId }, select: ADDRESS_SELECT } });
      }
    }
    if (commands.length > 0) readPieces.push({ commands, item: w });
  }
  const missing = new Set<Work>();
  await ctx.sender.send(readPieces, { write: false }, async (batch, answer) => {
    if (answer instanceof UnknownOutcomeError) throw answer;
    for (const piece of batch) {
      const w = piece.item;
      if (w.reads.company) {
        const error = answer.errors.get(w.reads.company);
        if (error) {
          if (isNotFound(error)) await recordDeleted(ctx, 'company', [w.company.company_id], `crm.company.get: company ${w.bitrixId} Not found`);
          else {
            await recordFailure(ctx, 'company', w.company.company_id, 'crm.company.get', error.code, `${error.description} (company ${w.bitrixId})`);
            ctx.stats.company.failed += 1;
          }
          missing.add(w);
          continue;
        }
        w.crm.company = answer.results.get(w.reads.company) as Record<string, unknown>;
      }
      for (const [part, method, what] of [['requisite', 'crm.requisite.list', 'requisite'], ['bank', 'crm.requisite.bankdetail.list', 'bank detail'], ['address', 'crm.address.list', 'legal address']] as const) {
        const key = w.reads[part];
        if (!key) continue;
        const error = answer.errors.get(key);
        const row = error ? undefined : rowsOf(answer.results.get(key))[0];
        if (row) {
          w.crm[part] = row;
          continue;
        }
        // not readable, or gone (a manager deleted it): its changes wait, and are not taken for pushed
        w.unread = true;
        await recordPartFailure(ctx, 'company', w.company.company_id, method, error?.code ?? 'NOT_FOUND',
          error?.description ?? `the company's ${what} is no longer in the CRM (deleted by a manager?); its changes are not sent`);
      }
    }
  });

  // writes
  const writePieces: Piece<{ w: Work; next: PushedCompany; keys: Record<string, string | null>; parts: { requisite: string | null; bank: string | null; address: string | null } }>[] = [];
  for (const w of work) {
    if (missing.has(w)) continue;
    const adopted = w.row.how === 'adopted';
    const commands: Command[] = [];
    const next: PushedCompany = { ...w.pushed, phones: [...w.pushed.phones], emails: [...w.pushed.emails] };
    const keys: Record<string, string | null> = {};
    const parts = { requisite: null as string | null, bank: null as string | null, address: null as string | null };
    if (w.crm.company) {
      const fields: Record<string, unknown> = {};
      if (!adopted) {
        const title = scalarChanges(w.crm.company, w.pushed.title === null ? null : { TITLE: w.pushed.title }, { TITLE: w.company.title });
        if (title.changes.TITLE !== undefined) fields.TITLE = title.changes.TITLE;
        next.title = title.kept.TITLE ?? null;
      }
      for (const kind of ['PHONE', 'EMAIL'] as const) {
        const list = kind === 'PHONE' ? 'phones' : 'emails';
        const crmItems = (Array.isArray(w.crm.company[kind]) ? w.crm.company[kind] : []) as CrmMultifield[];
        const ours = ownedValues(kind, crmItems, w.pushed[list], (w.row.intent as Partial<PushedCompany> | null)?.[list]);
        const changes = multifieldChanges(kind, crmItems, ours, w.company[list]);
        if (changes.length > 0) fields[kind] = changes;
        next[list] = ownedAfter(kind, crmItems, ours, w.company[list]);
      }
      if (Object.keys(fields).length > 0) {
        keys.company = commandKey('cu');
        commands.push({ key: keys.company, method: 'crm.company.update', params: { id: w.bitrixId, fields, params: { REGISTER_SONET_EVENT: 'N' } } });
      }
    }
    if (w.crm.requisite && w.pushed.requisite) {
      const rq = scalarChanges(w.crm.requisite, w.pushed.requisite, requisiteValues(w.company));
      next.requisite = rq.kept;
      if (Object.keys(rq.changes).length > 0) {
        keys.requisite = commandKey('ru');
        commands.push({ key: keys.requisite, method: 'crm.requisite.update', params: { id: w.requisiteId, fields: rq.changes } });
      }
    }
    if (w.crm.bank && w.pushed.bank) {
      const bd = scalarChanges(w.crm.bank, w.pushed.bank, bankValues(w.company) ?? {});
      next.bank = bd.kept;
      if (Object.keys(bd.changes).length > 0) {
        keys.bank = commandKey('bu');
        commands.push({ key: keys.bank, method: 'crm.requisite.bankdetail.update', params: { id: Number(w.row.bankdetail_id), fields: bd.changes } });
      }
    }
    if (w.crm.address && w.pushed.address) {
      const ad = scalarChanges(w.crm.address, w.pushed.address, addressValues(w.company) ?? {});
      next.address = ad.kept;
      if (Object.keys(ad.changes).length > 0) {
        keys.address = commandKey('au');
        commands.push({ key: keys.address, method: 'crm.address.update', params: {
          fields: { TYPE_ID: LEGAL_ADDRESS, ENTITY_TYPE_ID: ENTITY_TYPE.requisite, ENTITY_ID: w.requisiteId, ...ad.changes } } });
      }
    }
    if (!adopted) {
      // parts a created company still lacks
      if (w.requisiteId === null) {
        const chain = requisiteChain(ctx, w.company, w.bitrixId);
        commands.push(...chain.commands);
        Object.assign(parts, chain.keys);
      } else {
        if (!w.row.bankdetail_id && bankValues(w.company)) {
          parts.bank = commandKey('bd');
          commands.push({ key: parts.bank, method: 'crm.requisite.bankdetail.add', params: { fields: bankAddFields(w.company, w.requisiteId) } });
        }
        if (!w.row.has_address && addressValues(w.company)) {
          parts.address = commandKey('ad');
          commands.push({ key: parts.address, method: 'crm.address.add', params: { fields: addressFields(w.company, w.requisiteId) } });
        }
      }
    }
    writePieces.push({ commands, item: { w, next, keys, parts } });
  }
  const quiet = writePieces.filter((p) => p.commands.length === 0);
  for (const { item } of quiet) {
    await ctx.links.linked('company', item.w.company.company_id, { bitrixId: item.w.bitrixId, pushedHash: item.w.unread ? null : item.w.company.out_hash, pushed: item.next });
    countSettled(ctx, 'company', item.w.company.company_id, 'unchanged');
  }
  // what the writes will make ours, in case their answer is lost: the phones and e-mails they
  // add, and the parts they add
  await ctx.links.recordIntent('company', writePieces.filter((p) => p.commands.length > 0).map((p) => {
    const { w, next, parts } = p.item;
    const added = parts.requisite || parts.bank || parts.address;
    return [w.company.company_id, added ? { ...next, requisite: requisiteValues(w.company), bank: bankValues(w.company), address: addressValues(w.company) } : next] as const;
  }));
  await ctx.sender.send(writePieces.filter((p) => p.commands.length > 0), { write: true }, async (batch, answer) => {
    if (answer instanceof UnknownOutcomeError) ctx.log(`push: ${answer.message} (${batch.length} companies' updates: read again and sent again where they are not done)`);
    for (const { item } of batch) await settleUpdate(ctx, item, answer);
    ctx.progress();
  });
  await ctx.links.release('company', rows.map((r) => r.canonical_id));
}

async function settleUpdate(
  ctx: PushContext,
  item: { w: Work; next: PushedCompany; keys: Record<string, string | null>; parts: { requisite: string | null; bank: string | null; address: string | null } },
  answer: BatchAnswer | UnknownOutcomeError,
): Promise<void> {
  const { w, keys, parts } = item;
  if (answer instanceof UnknownOutcomeError) {
    // the row stays changed: the update is read and sent again in this run (it writes only what
    // still differs); a part it added may be there: looked up before it is added again
    ctx.stats.unknownOutcomes += 1;
    ctx.lostUpdates.add(`company:${w.company.company_id}`);
    if (parts.requisite || parts.bank || parts.address) await ctx.links.unanswered('company', [w.company.company_id]);
    else ctx.again.company.add(w.company.company_id);
    return;
  }
  let refused = false;
  const failures: Array<[string, { code: string; description: string }]> = [];
  const failure = async (method: string, error: { code: string; description: string }) => {
    if (REFUSED_BEFORE_RUNNING.has(error.code)) refused = true;
    else failures.push([method, error]);
  };
  // the batch runs every command (halt=0): updates that failed keep what was pushed before,
  // parts that were added are kept whatever else failed
  const next: PushedCompany = { ...item.next };
  for (const [key, method, field] of [[keys.company, 'crm.company.update', null], [keys.requisite, 'crm.requisite.update', 'requisite'],
    [keys.bank, 'crm.requisite.bankdetail.update', 'bank'], [keys.address, 'crm.address.update', 'address']] as const) {
    const error = key ? answer.errors.get(key) : undefined;
    if (!error) continue;
    await failure(method, error);
    if (field === null) Object.assign(next, { title: w.pushed.title, phones: w.pushed.phones, emails: w.pushed.emails });
    else next[field] = w.pushed[field] as never;
  }
  let requisiteId: number | null | undefined;
  let bankdetailId: number | null | undefined;
  let hasAddress: boolean | undefined;
  if (parts.requisite) {
    const rq = outcomeOf(answer, parts.requisite);
    requisiteId = rq.id;
    if (rq.error) await failure('crm.requisite.add', rq.error);
    else next.requisite = requisiteValues(w.company);
  }
  if (parts.bank) {
    const bd = outcomeOf(answer, parts.bank);
    bankdetailId = bd.id;
    if (bd.error) await failure('crm.requisite.bankdetail.add', bd.error);
    else next.bank = bankValues(w.company);
  }
  if (parts.address) {
    const ad = outcomeOf(answer, parts.address);
    hasAddress = !ad.error;
    if (ad.error) await failure('crm.address.add', ad.error);
    else next.address = addressValues(w.company);
  }
  const complete = !w.unread && !refused && failures.length === 0;
  await ctx.links.linked('company', w.company.company_id, {
    bitrixId: w.bitrixId, requisiteId, bankdetailId, hasAddress, pushedHash: complete ? w.company.out_hash : null, pushed: next,
  });
  // kept after the link, which clears the row's last error; what failed or was refused stays
  // changed: the next push reads and sends it again
  for (const [method, error] of failures) await recordPartFailure(ctx, 'company', w.company.company_id, method, error.code, error.description);
  if (failures.length > 0) ctx.stats.company.failed += 1;
  else if (refused) ctx.stats.refused += 1;
  else countSettled(ctx, 'company', w.company.company_id, 'updated');
}
