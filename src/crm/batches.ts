import type { PortalClient } from './portal-client.js';
import { UnknownOutcomeError } from './portal-client.js';
import type { BatchAnswer, Command } from './rest.js';

/** At most this many commands in one batch (CRestUtil::BATCH_MAX_LENGTH). */
export const BATCH_MAX = 50;

/**
 * Commands that belong together (a company with its requisite, bank detail and address; an
 * import of up to 20 contacts): they go in the same batch, so `$result[...]` references
 * resolve. Keys are unique across the run, so pieces can share any batch.
 */
export interface Piece<T> {
  commands: Command[];
  /** Units of work per command key for the execution-time estimate (items of an import); 1 when absent. */
  units?: Map<string, number>;
  item: T;
}

let counter = 0;
/** A key unique in this process, for a command of a piece. */
export const commandKey = (name: string) => `${name}${(counter++).toString(36)}`;

/**
 * Sends pieces in batches of at most 50 commands, filled in order, `concurrency` batches at a
 * time; each batch's answer (or its unknown outcome) is handed to `settle` with its pieces.
 * A write batch is never sent again after no answer (UnknownOutcomeError goes to settle).
 */
export async function sendPieces<T>(
  client: PortalClient,
  pieces: readonly Piece<T>[],
  o: { write: boolean; concurrency: number; maxCommands?: number; maxUnits?: number },
  settle: (pieces: Piece<T>[], answer: BatchAnswer | UnknownOutcomeError) => Promise<void>,
): Promise<void> {
  const batches: Piece<T>[][] = [];
  let current: Piece<T>[] = [];
  let size = 0;
  const max = o.maxCommands ?? BATCH_MAX;
  const maxUnits = o.maxUnits ?? Infinity;
  let units = 0;
  const unitsOf = (piece: Piece<T>) => piece.commands.reduce((n, c) => n + (piece.units?.get(c.key) ?? 1), 0);
  for (const piece of pieces) {
    const pieceUnits = unitsOf(piece);
    if ((size + piece.commands.length > max || units + pieceUnits > maxUnits) && current.length > 0) {
      batches.push(current);
      current = [];
      size = 0;
      units = 0;
    }
    current.push(piece);
    size += piece.commands.length;
    units += pieceUnits;
  }
  if (current.length > 0) batches.push(current);

  let next = 0;
  const worker = async () => {
    for (let i = next++; i < batches.length; i = next++) {
      const batch = batches[i]!;
      const commands = batch.flatMap((p) => p.commands);
      const units = new Map(batch.flatMap((p) => [...(p.units ?? [])]));
      let answer: BatchAnswer | UnknownOutcomeError;
      try {
        answer = o.write ? await client.writeBatch(commands, units) : await client.readBatch(commands);
      } catch (e) {
        if (!(e instanceof UnknownOutcomeError)) throw e;
        answer = e;
      }
      await settle(batch, answer);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(o.concurrency, batches.length)) }, worker));
}

/** A list command's rows: crm.*.list answers an array (crm.item.list: {items: [...]}). */
export function rowsOf(result: unknown): Array<Record<string, unknown>> {
  if (Array.isArray(result)) return result as Array<Record<string, unknown>>;
  if (result && typeof result === 'object' && Array.isArray((result as { items?: unknown }).items)) return (result as { items: Array<Record<string, unknown>> }).items;
  return [];
}
