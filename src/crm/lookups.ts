import { formatCount } from '../land/progress.js';
import { commandKey, rowsOf, type Piece } from './batches.js';
import { recordDeleted, type PushContext } from './context.js';
import { ORIGINATOR } from './fields.js';
import type { CrmEntity, LinkRow } from './links.js';
import { PushStoppedError, UnknownOutcomeError } from './portal-client.js';
import type { BatchAnswer } from './rest.js';
import { pause } from './stop.js';

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

/**
 * Rows of a list method for many keys at once (`@FIELD` filter, 50 keys a command), grouped by
 * `groupBy`, each group in ID order. Pages past the first are read with `start`.
 */
export async function listRowsByKey(
  ctx: PushContext, method: string, filter: Record<string, unknown>, inField: string, keys: ReadonlyArray<string | number>,
  select: string[], groupBy: string,
): Promise<Map<string, Array<Record<string, unknown>>>> {
  const grouped = new Map<string, Array<Record<string, unknown>>>();
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
          list.push(row);
          grouped.set(group, list);
        }
        const total = answer.totals.get(key);
        if (rows.length >= 50 && (total === undefined || total > piece.item.start + rows.length)) more.push(command(piece.item.chunk, piece.item.start + 50));
      }
    });
    pieces.push(...more);
  }
  for (const list of grouped.values()) list.sort((a, b) => Number(a.ID) - Number(b.ID));
  return grouped;
}

/** As listRowsByKey, each group's values of `pick` (ID by default), lowest ID first. */
export async function listByKey(
  ctx: PushContext, method: string, filter: Record<string, unknown>, inField: string, keys: ReadonlyArray<string | number>,
  select: string[], groupBy: string, pick = 'ID',
): Promise<Map<string, number[]>> {
  const rows = await listRowsByKey(ctx, method, filter, inField, keys, select, groupBy);
  return new Map([...rows].map(([group, list]) => [group, list.map((row) => Number(row[pick]))]));
}

/** A multifield's values as the CRM holds them (PHONE, EMAIL of a get or list). */
export function multifieldValues(row: Record<string, unknown>, kind: 'PHONE' | 'EMAIL'): string[] {
  const items = Array.isArray(row[kind]) ? (row[kind] as Array<{ VALUE?: unknown }>) : [];
  return items.map((item) => String(item.VALUE ?? '')).filter((value) => value !== '');
}

/** The named fields of a CRM row that hold a value, as text: what the CRM holds of them. */
export function heldValues(row: Record<string, unknown> | undefined, fields: readonly string[]): Record<string, string> | null {
  if (!row) return null;
  const held = Object.fromEntries(fields.filter((f) => f !== 'ID' && row[f] !== null && row[f] !== undefined && String(row[f]) !== '').map((f) => [f, String(row[f])]));
  return held;
}

/** An entity found again after an unknown outcome: its row and its id in the CRM. */
export interface Found {
  row: LinkRow;
  bitrixId: number;
  /** When the CRM says it was created, where known. */
  createdAt?: Date | null;
}

/**
 * Entities left 'sending' — by a push that died, or by this one after a batch got no answer —
 * looked up in the CRM before anything is sent again: by ORIGINATOR_ID and ORIGIN_ID, and a
 * row that already had a Bitrix id (an update that may have added parts) also by that id.
 * The lookup waits until the lost batch can no longer be running at the portal (it gives up
 * on a request after 60 s); a stop ends the wait, leaving them for the next push. Found
 * entities go to `relink` with their row (its `intent`: what the lost add carried); the others
 * are forgotten, and — like the found ones, which may miss what the lost write carried — kept
 * in `ctx.again` to be sent again in this run. One that had a Bitrix id the CRM no longer
 * knows was deleted (or merged away) by a manager: it stays out of the CRM.
 */
/** How a log line names several entities of a kind. */
const PLURAL: Record<CrmEntity, string> = { company: 'companies', contact: 'contacts', deal: 'deals' };

export async function resolveUnknown(ctx: PushContext, entity: CrmEntity, ownToo: boolean, relink: (found: Found[]) => Promise<void>): Promise<void> {
  const claimed = await ctx.links.claimUnknown(entity, ownToo);
  // claimed by a push that died before their write left: nothing of them can be in the CRM
  const unsent = claimed.filter((r) => r.sent_at === null && r.bitrix_id === null).map((r) => r.canonical_id);
  await ctx.links.forget(entity, unsent);
  const rows = claimed.filter((r) => r.sent_at !== null || r.bitrix_id !== null);
  if (rows.length === 0) return;
  const youngest = Math.max(...rows.map((r) => (r.sent_at ?? r.intent_at)?.getTime() ?? 0));
  const wait = youngest + ctx.settleMs - Date.now();
  if (wait > 0) {
    ctx.log(`push: ${formatCount(rows.length)} ${PLURAL[entity]} got no answer; waiting ${Math.ceil(wait / 1000)}s, ` +
      'until the portal cannot still be writing them, before looking them up');
    await pause(wait, ctx.signal);
  }
  const method = `crm.${entity}.list`;
  const byOrigin = await listByKey(ctx, method, { ORIGINATOR_ID: ORIGINATOR }, '@ORIGIN_ID', rows.map((r) => r.canonical_id), ['ID', 'ORIGIN_ID'], 'ORIGIN_ID');
  const missed = rows.filter((r) => !byOrigin.has(r.canonical_id) && r.bitrix_id !== null);
  const byId = missed.length > 0 ? await listByKey(ctx, method, {}, '@ID', missed.map((r) => Number(r.bitrix_id)), ['ID'], 'ID') : new Map<string, number[]>();
  const found: Found[] = [];
  const forget: string[] = [];
  const gone: string[] = [];
  for (const row of rows) {
    const ids = byOrigin.get(row.canonical_id) ?? (row.bitrix_id !== null && byId.has(row.bitrix_id) ? [Number(row.bitrix_id)] : undefined);
    if (ids) {
      if (ids.length > 1) {
        ctx.stats.duplicatesFound += ids.length - 1;
        ctx.log(`push: ${entity} ${row.canonical_id} is in the CRM ${ids.length} times (ids ${ids.join(', ')}); linked to ${ids[0]}`);
      }
      found.push({ row, bitrixId: ids[0]! });
    } else if (row.bitrix_id !== null) {
      gone.push(row.canonical_id);
    } else {
      forget.push(row.canonical_id);
    }
  }
  await relink(found);
  await ctx.links.forget(entity, forget);
  await recordDeleted(ctx, entity, gone, `${entity} no longer there by our ORIGIN_ID nor by its id`);
  for (const id of [...forget, ...found.map((f) => f.row.canonical_id)]) ctx.again[entity].add(id);
  for (const id of forget) ctx.notFound[entity].add(id);
  for (const f of found) ctx.notFound[entity].delete(f.row.canonical_id);
}
