import { commandKey, rowsOf, type Piece } from './batches.js';
import { crmTime, IMPORT_MAX } from './companies.js';
import { countSettled, isNotFound, recordDeleted, recordFailure, type PushContext } from './context.js';
import { multifieldChanges, ownedAfter, ownedValues, scalarChanges, type CrmMultifield } from './diff.js';
import { contactAddFields, contactImportItem, contactValues, ENTITY_TYPE, ORIGINATOR, pushedContact, sameValue, type ContactOut, type PushedContact } from './fields.js';
import type { LinkRow, Linked } from './links.js';
import { listByKey, listRowsByKey, multifieldValues, outcomeOf, resolveUnknown } from './lookups.js';
import { PushStoppedError, REFUSED_BEFORE_RUNNING, UnknownOutcomeError } from './portal-client.js';
import type { BatchAnswer, Command } from './rest.js';

/** A contact's own fields the push writes (contactValues), as the CRM holds them. */
const CONTACT_FIELDS = ['NAME', 'LAST_NAME', 'SECOND_NAME', 'POST'];

/** Whether a CRM contact is this canonical contact: a phone or e-mail in common, or the same name in the same company. */
function samePerson(row: Record<string, unknown>, c: NewContact): boolean {
  const has = (kind: 'PHONE' | 'EMAIL', ours: readonly string[]) => {
    const theirs = new Set(multifieldValues(row, kind).map((v) => sameValue(kind, v)));
    return ours.some((v) => theirs.has(sameValue(kind, v)));
  };
  if (has('PHONE', c.contact.phones) || has('EMAIL', c.contact.emails)) return true;
  const same = (a: unknown, b: string | null) => b !== null && String(a ?? '').trim().toLowerCase() === b.trim().toLowerCase();
  const name = c.contact.last_name !== null ? same(row.LAST_NAME, c.contact.last_name) : same(row.NAME, c.contact.first_name);
  return name && Number(row.COMPANY_ID) === c.companyId;
}

interface NewContact {
  contact: ContactOut;
  companyId: number;
}

/**
 * Contacts this session claimed as new, under their company's Bitrix id. A contact of a
 * company that was in the CRM before this push (adopted, or created by an earlier push: a
 * manager may have added its people since) is first looked for by our ORIGIN_ID, then among
 * that company's contacts by phone and e-mail (crm.duplicate.findbycomm, 20 values a command, then the candidates'
 * companies) and adopted when one shares a phone or e-mail; contacts of companies this push
 * created cannot be in the CRM yet. The rest are created: crm.item.batchImport, 20 a
 * command, in import mode; crm.contact.add otherwise. Returns once those batches are queued;
 * `sending` settles when they are answered and recorded (an add without an answer stays
 * 'sending' for inspectUnknownContacts).
 */
export async function createContacts(ctx: PushContext, ids: readonly string[]): Promise<{ sending: Promise<void> }> {
  const out = await ctx.links.out<ContactOut>('contact', ids);
  const companies = await ctx.links.companyIds([...new Set([...out.values()].map((c) => c.company_id))]);
  const contacts: NewContact[] = [];
  const orphans: string[] = [];
  for (const id of ids) {
    const contact = out.get(id);
    const company = contact ? companies.get(contact.company_id) : undefined;
    if (!contact || !company) orphans.push(id);
    else contacts.push({ contact, companyId: company.bitrixId });
  }
  // a company in the CRM before this run may have been deleted there since: its new contacts
  // would land without a company; they wait instead
  const older = [...companies].filter(([id]) => !ctx.createdCompanies.has(id));
  const there = await listByKey(ctx, 'crm.company.list', {}, '@ID', older.map(([, c]) => c.bitrixId), ['ID'], 'ID');
  const gone = older.filter(([, c]) => !there.has(String(c.bitrixId)));
  await recordDeleted(ctx, 'company', gone.map(([id]) => id), 'crm.company.list: no company with its id, found when its new contacts were to be created');
  const waiting = new Set(gone.map(([, c]) => c.bitrixId));
  orphans.push(...contacts.filter((c) => waiting.has(c.companyId)).map((c) => c.contact.contact_id));
  contacts.splice(0, contacts.length, ...contacts.filter((c) => !waiting.has(c.companyId)));
  await ctx.links.forget('contact', orphans);
  const olderCompanies = new Set(older.filter(([, c]) => !waiting.has(c.bitrixId)).map(([, c]) => c.bitrixId));
  const { ours, managers } = await findInCompanies(ctx, contacts.filter((c) => olderCompanies.has(c.companyId)));
  const adopted: Array<[string, Linked]> = [];
  for (const c of contacts) {
    const found = managers.get(c.contact.contact_id);
    if (found !== undefined) {
      adopted.push([c.contact.contact_id, {
        bitrixId: found, how: 'adopted', pushedHash: null, retake: true, pushed: { fields: {}, phones: [], emails: [], companyId: c.companyId } satisfies PushedContact,
      }]);
    }
    // ours, an earlier push's whose link was lost: what the CRM holds is taken as pushed, so the clean base's changes reach it
    const own = ours.get(c.contact.contact_id);
    if (own) adopted.push([c.contact.contact_id, { bitrixId: own.bitrixId, how: 'created', createdAt: own.createdAt, pushedHash: c.contact.out_hash, pushed: own.pushed }]);
  }
  await ctx.links.linkedMany('contact', adopted);
  ctx.stats.contact.adopted += adopted.length;
  for (const [id] of adopted) ctx.countedOnce.add(`contact:${id}`); // completed by the next step, counted once
  const toCreate = contacts.filter((c) => !managers.has(c.contact.contact_id) && !ours.has(c.contact.contact_id));
  // what each add carries, kept before it is sent: a contact found after a lost answer holds this
  await ctx.links.recordIntent('contact', toCreate.map((c) => [c.contact.contact_id, pushedContact(c.contact, c.companyId)] as const));
  const pieces: Piece<Array<NewContact & { index: number | null }>>[] = [];
  if (ctx.mode === 'import') {
    for (let i = 0; i < toCreate.length; i += IMPORT_MAX) {
      const group = toCreate.slice(i, i + IMPORT_MAX);
      const key = commandKey('ki');
      pieces.push({
        commands: [{ key, method: 'crm.item.batchImport', params: { entityTypeId: ENTITY_TYPE.contact, data: group.map((c) => contactImportItem(c.contact, c.companyId)) } }],
        units: new Map([[key, group.length]]),
        item: group.map((c, index) => ({ ...c, index })),
      });
    }
  } else {
    for (const c of toCreate) {
      const key = commandKey('ka');
      pieces.push({ commands: [{ key, method: 'crm.contact.add', params: { fields: contactAddFields(c.contact, c.companyId), params: { REGISTER_SONET_EVENT: 'N' } } }], item: [{ ...c, index: null }] });
    }
  }
  const maxUnits = await ctx.client.pacing.unitsPerRequest(ctx.mode === 'import' ? 'crm.item.batchImport' : 'crm.contact.add');
  const sending = (batch: typeof pieces, sent: boolean) => ctx.links.markSent('contact', batch.flatMap((p) => p.item.map((c) => c.contact.contact_id)), sent);
  return { sending: ctx.sender.send(pieces, { write: true, maxUnits, sending }, (batch, answer) => settleCreated(ctx, batch, answer)) };
}

async function settleCreated(ctx: PushContext, pieces: Piece<Array<NewContact & { index: number | null }>>[], answer: BatchAnswer | UnknownOutcomeError): Promise<void> {
  if (answer instanceof UnknownOutcomeError) {
    // stays 'sending': looked up by ORIGIN_ID before anything is sent again
    const ids = pieces.flatMap((p) => p.item.map((c) => c.contact.contact_id));
    ctx.stats.unknownOutcomes += ids.length;
    ctx.log(`push: ${answer.message} (contacts ${ids.slice(0, 5).join(', ')}${ids.length > 5 ? ` and ${ids.length - 5} more` : ''})`);
    await ctx.links.unanswered('contact', ids);
    return;
  }
  const linked: Array<[string, Linked]> = [];
  for (const piece of pieces) {
    const key = piece.commands[0]!.key;
    const method = piece.commands[0]!.method;
    for (const c of piece.item) {
      const made = outcomeOf(answer, key, c.index);
      if (made.error) {
        if (made.error.code === 'ACCESS_DENIED' && method === 'crm.item.batchImport') {
          await ctx.links.forget('contact', piece.item.map((x) => x.contact.contact_id));
          throw new PushStoppedError('the webhook\'s user may not import contacts (crm.item.batchImport: ACCESS_DENIED): give that user the ' +
            'CRM "Import" permission for contacts (CRM settings → Access permissions), or push with --mode add, which starts the portal\'s automation for every contact it creates');
        }
        if (REFUSED_BEFORE_RUNNING.has(made.error.code)) {
          await ctx.links.forget('contact', [c.contact.contact_id]); // not made: created by the next push
          ctx.stats.refused += 1;
          continue;
        }
        await recordFailure(ctx, 'contact', c.contact.contact_id, method, made.error.code, made.error.description);
        ctx.stats.contact.failed += 1;
        continue;
      }
      linked.push([c.contact.contact_id, {
        bitrixId: made.id!, how: 'created', mode: ctx.mode, pushedHash: c.contact.out_hash, pushed: pushedContact(c.contact, c.companyId),
      }]);
      ctx.stats.contact.created += 1;
    }
  }
  await ctx.links.linkedMany('contact', linked);
  ctx.progress();
}

/**
 * Contacts already in the CRM: ours by ORIGIN_ID (created by an earlier push whose link is
 * gone), with what the CRM holds of them; then a manager's in their company by phone and by
 * e-mail (findbycomm searches only the first 20 values of a call, so values go 20 a command),
 * kept only if the candidate's company is the contact's: canonical id → Bitrix id.
 */
async function findInCompanies(ctx: PushContext, all: readonly NewContact[]): Promise<{
  ours: Map<string, { bitrixId: number; pushed: PushedContact; createdAt: Date | null }>; managers: Map<string, number>;
}> {
  const ours = new Map<string, { bitrixId: number; pushed: PushedContact; createdAt: Date | null }>();
  const found = new Map<string, number>();
  if (all.length === 0) return { ours, managers: found };
  // ours first, by ORIGIN_ID: a contact an earlier push created (its link lost, or kept under
  // another address of the portal) is found even without a phone or an e-mail
  const byOrigin = await listRowsByKey(ctx, 'crm.contact.list', { ORIGINATOR_ID: ORIGINATOR }, '@ORIGIN_ID', all.map((c) => c.contact.contact_id),
    ['ID', 'ORIGIN_ID', 'DATE_CREATE', 'COMPANY_ID', 'PHONE', 'EMAIL', ...CONTACT_FIELDS], 'ORIGIN_ID');
  for (const c of all) {
    // an ORIGIN_ID is this warehouse's id: one a restored or rebuilt warehouse gives another
    // person is not proof alone; the person must be the same (a phone or e-mail, or the name in the same company)
    const row = (byOrigin.get(c.contact.contact_id) ?? []).find((r) => samePerson(r, c));
    if (!row) continue;
    const crmCompany = Number(row.COMPANY_ID) || null;
    // what was pushed is not known: the clean base as it is now, so what the CRM holds otherwise
    // stays (a manager's edit, a move to another company) and later changes reach it
    ours.set(c.contact.contact_id, {
      bitrixId: Number(row.ID), createdAt: crmTime(row.DATE_CREATE), pushed: pushedContact(c.contact, crmCompany ?? c.companyId),
    });
  }
  const contacts = all.filter((c) => !ours.has(c.contact.contact_id));
  if (contacts.length === 0) return { ours, managers: found };
  const candidates = new Set<number>();
  const pieces: Piece<null>[] = [];
  for (const type of ['PHONE', 'EMAIL'] as const) {
    const values = [...new Set(contacts.flatMap((c) => (type === 'PHONE' ? c.contact.phones : c.contact.emails)))];
    for (let i = 0; i < values.length; i += 20) {
      pieces.push({ commands: [{ key: commandKey('dup'), method: 'crm.duplicate.findbycomm', params: { type, values: values.slice(i, i + 20), entity_type: 'CONTACT' } }], item: null });
    }
  }
  await ctx.sender.send(pieces, { write: false }, async (batch, answer) => {
    if (answer instanceof UnknownOutcomeError) throw answer;
    for (const piece of batch) {
      const key = piece.commands[0]!.key;
      const error = answer.errors.get(key);
      if (error) throw new PushStoppedError(`looking contacts up by phone and e-mail failed: crm.duplicate.findbycomm: ${error.code} ${error.description}`);
      const result = answer.results.get(key) as { CONTACT?: unknown[] } | unknown[] | undefined;
      const ids = Array.isArray(result) ? [] : result?.CONTACT ?? [];
      for (const id of ids) candidates.add(Number(id));
    }
  });
  if (candidates.size === 0) return { ours, managers: found };
  const details = new Map<number, { company: number; phones: Set<string>; emails: Set<string> }>();
  const ids = [...candidates].sort((a, b) => a - b);
  const listPieces: Piece<null>[] = [];
  for (let i = 0; i < ids.length; i += 50) {
    listPieces.push({ commands: [{ key: commandKey('cl'), method: 'crm.contact.list', params: { filter: { '@ID': ids.slice(i, i + 50) }, select: ['ID', 'COMPANY_ID', 'PHONE', 'EMAIL'], order: { ID: 'ASC' } } }], item: null });
  }
  await ctx.sender.send(listPieces, { write: false }, async (batch, answer) => {
    if (answer instanceof UnknownOutcomeError) throw answer;
    for (const piece of batch) {
      for (const row of rowsOf(answer.results.get(piece.commands[0]!.key))) {
        const values = (kind: 'PHONE' | 'EMAIL') => new Set(((row[kind] ?? []) as CrmMultifield[]).map((m) => sameValue(kind, m.VALUE)));
        details.set(Number(row.ID), { company: Number(row.COMPANY_ID), phones: values('PHONE'), emails: values('EMAIL') });
      }
    }
  });
  // A contact a record of ours is linked to is that record's, never a manager's to adopt: a
  // phone that moved from one person to another in the clean base may still be on the first
  // one's contact in the CRM until its update gets there.
  const taken = await ctx.links.linkedBitrixIds('contact', ids);
  for (const c of contacts) {
    for (const id of ids) {
      const d = details.get(id);
      if (!d || d.company !== c.companyId || taken.has(id)) continue;
      if (c.contact.phones.some((p) => d.phones.has(sameValue('PHONE', p))) || c.contact.emails.some((e) => d.emails.has(sameValue('EMAIL', e)))) {
        found.set(c.contact.contact_id, id);
        taken.add(id);
        break;
      }
    }
  }
  return { ours, managers: found };
}

/**
 * Contacts left 'sending' (a dead push, an answer lost), found again in the CRM: linked with,
 * as pushed, what the lost add carried (its intent); what differs is sent by the next step.
 * Those not found are created again (see resolveUnknown).
 */
export async function inspectUnknownContacts(ctx: PushContext, ownToo: boolean): Promise<void> {
  await resolveUnknown(ctx, 'contact', ownToo, async (found) => {
    const linked: Array<[string, Linked]> = [];
    for (const { row, bitrixId } of found) {
      const pushed = (row.pushed ?? row.intent ?? undefined) as PushedContact | undefined;
      linked.push([row.canonical_id, { bitrixId, how: row.how ?? 'created', createdAt: row.intent_at, pushedHash: null, pushed }]);
      if (row.bitrix_id === null) {
        ctx.stats.contact.created += 1;
        ctx.countedOnce.add(`contact:${row.canonical_id}`);
      }
    }
    await ctx.links.linkedMany('contact', linked);
  });
}

/**
 * Linked contacts whose row changed: read from the CRM, then only what differs from what was
 * pushed and nobody changed since is written (a manager's edits stand); phones and e-mails
 * as for companies; the company link moves with the canonical row unless a manager moved it.
 */
export async function updateContacts(ctx: PushContext, rows: readonly LinkRow[]): Promise<void> {
  const out = await ctx.links.out<ContactOut>('contact', rows.map((r) => r.canonical_id));
  const companies = await ctx.links.companyIds([...new Set([...out.values()].map((c) => c.company_id))]);
  type Work = { row: LinkRow; contact: ContactOut; companyId: number; pushed: PushedContact; read: string };
  const work: Work[] = [];
  for (const row of rows) {
    const contact = out.get(row.canonical_id);
    const company = contact ? companies.get(contact.company_id) : undefined;
    if (!contact || !company) continue;
    const pushed = (row.pushed ?? { fields: {}, phones: [], emails: [], companyId: null }) as PushedContact;
    work.push({ row, contact, companyId: company.bitrixId, pushed, read: commandKey('kg') });
  }
  const crm = new Map<Work, Record<string, unknown>>();
  await ctx.sender.send(work.map((w) => ({ commands: [{ key: w.read, method: 'crm.contact.get', params: { id: Number(w.row.bitrix_id) } }], item: w })),
    { write: false }, async (batch, answer) => {
      if (answer instanceof UnknownOutcomeError) throw answer;
      for (const { item: w } of batch) {
        const error = answer.errors.get(w.read);
        if (error && isNotFound(error)) {
          await recordDeleted(ctx, 'contact', [w.contact.contact_id], `crm.contact.get: contact ${w.row.bitrix_id} Not found`);
        } else if (error) {
          await recordFailure(ctx, 'contact', w.contact.contact_id, 'crm.contact.get', error.code, `${error.description} (contact ${w.row.bitrix_id})`);
          ctx.stats.contact.failed += 1;
        } else {
          crm.set(w, answer.results.get(w.read) as Record<string, unknown>);
        }
      }
    });
  const pieces: Piece<{ w: Work; next: PushedContact }>[] = [];
  for (const [w, current] of crm) {
    const adopted = w.row.how === 'adopted';
    const fields: Record<string, unknown> = {};
    const next: PushedContact = { ...w.pushed, companyId: w.pushed.companyId };
    if (!adopted) {
      const own = scalarChanges(current, w.pushed.fields, contactValues(w.contact));
      Object.assign(fields, own.changes);
      next.fields = own.kept;
      // the company moves with the canonical row unless a manager moved the contact: the CRM still
      // shows the company it was pushed under, or none (that company was deleted, or never set)
      const crmCompany = Number(current.COMPANY_ID) || null;
      if (w.pushed.companyId !== w.companyId && (w.pushed.companyId === null || crmCompany === null || crmCompany === w.pushed.companyId)) {
        fields.COMPANY_ID = w.companyId;
        next.companyId = w.companyId;
      }
    }
    for (const kind of ['PHONE', 'EMAIL'] as const) {
      const list = kind === 'PHONE' ? 'phones' : 'emails';
      const items = (Array.isArray(current[kind]) ? current[kind] : []) as CrmMultifield[];
      const ours = ownedValues(kind, items, w.pushed[list], (w.row.intent as Partial<PushedContact> | null)?.[list]);
      const changes = multifieldChanges(kind, items, ours, w.contact[list]);
      if (changes.length > 0) fields[kind] = changes;
      next[list] = ownedAfter(kind, items, ours, w.contact[list]);
    }
    const commands: Command[] = Object.keys(fields).length > 0
      ? [{ key: commandKey('ku'), method: 'crm.contact.update', params: { id: Number(w.row.bitrix_id), fields, params: { REGISTER_SONET_EVENT: 'N' } } }]
      : [];
    pieces.push({ commands, item: { w, next } });
  }
  for (const { item } of pieces.filter((p) => p.commands.length === 0)) {
    await ctx.links.linked('contact', item.w.contact.contact_id, { bitrixId: Number(item.w.row.bitrix_id), pushedHash: item.w.contact.out_hash, pushed: item.next });
    countSettled(ctx, 'contact', item.w.contact.contact_id, 'unchanged');
  }
  // what the updates will make ours, in case their answer is lost
  await ctx.links.recordIntent('contact', pieces.filter((p) => p.commands.length > 0).map((p) => [p.item.w.contact.contact_id, p.item.next] as const));
  await ctx.sender.send(pieces.filter((p) => p.commands.length > 0), { write: true }, async (batch, answer) => {
    for (const piece of batch) {
      const { w, next } = piece.item;
      if (answer instanceof UnknownOutcomeError) {
        // read and sent again in this run: it writes only what still differs
        ctx.stats.unknownOutcomes += 1;
        ctx.again.contact.add(w.contact.contact_id);
        ctx.lostUpdates.add(`contact:${w.contact.contact_id}`);
        continue;
      }
      const error = answer.errors.get(piece.commands[0]!.key);
      if (error) {
        if (REFUSED_BEFORE_RUNNING.has(error.code)) {
          ctx.stats.refused += 1; // the row stays changed: the next push sends it
        } else {
          await recordFailure(ctx, 'contact', w.contact.contact_id, 'crm.contact.update', error.code, error.description);
          ctx.stats.contact.failed += 1;
        }
        continue;
      }
      await ctx.links.linked('contact', w.contact.contact_id, { bitrixId: Number(w.row.bitrix_id), pushedHash: w.contact.out_hash, pushed: next });
      countSettled(ctx, 'contact', w.contact.contact_id, 'updated');
    }
    ctx.progress();
  });
  await ctx.links.release('contact', rows.map((r) => r.canonical_id));
}
