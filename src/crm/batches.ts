import type { PortalClient } from './portal-client.js';
import { UnknownOutcomeError } from './portal-client.js';
import type { BatchAnswer, Command } from './rest.js';
import { StopRequestedError } from './stop.js';

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

/** One batch waiting to be sent, and what to do with its answer. */
interface Job {
  commands: Command[];
  units: Map<string, number>;
  write: boolean;
  /** Right before the batch goes out (true), and when it turned out it never left (false). */
  sending?: (sent: boolean) => Promise<void>;
  settle(answer: BatchAnswer | UnknownOutcomeError): Promise<void>;
  fail(error: unknown): void;
}

/**
 * The batches of a push, `concurrency` in flight at once whoever queued them: the steps of a
 * push queue their batches here and prepare the next chunk while these are sent, so the
 * portal is never left waiting while the pusher reads and writes its own database. Reads go
 * first: a chunk being prepared waits for them. After a failure nothing more is sent.
 */
export class BatchSender {
  private readonly reads: Job[] = [];
  private readonly writes: Job[] = [];
  private running = 0;
  private failure: { error: unknown } | null = null;
  private readonly waiters: Array<() => void> = [];

  /** `signal` (a stop): nothing more is sent; batches waiting fail with StopRequestedError, those at the portal are answered. */
  constructor(private readonly client: PortalClient, private readonly concurrency: number, signal?: AbortSignal) {
    signal?.addEventListener('abort', () => this.halt(new StopRequestedError()), { once: true });
  }

  /**
   * Sends pieces in batches of at most 50 commands, filled in order; each batch's answer (or
   * its unknown outcome) is handed to `settle` with its pieces. Resolves once every batch is
   * settled. A write batch is never sent again after no answer (UnknownOutcomeError goes to
   * settle).
   */
  send<T>(
    pieces: readonly Piece<T>[],
    o: { write: boolean; maxCommands?: number; maxUnits?: number; sending?: (pieces: Piece<T>[], sent: boolean) => Promise<void> },
    settle: (pieces: Piece<T>[], answer: BatchAnswer | UnknownOutcomeError) => Promise<void>,
  ): Promise<void> {
    const batches = packBatches(pieces, o.maxCommands ?? BATCH_MAX, o.maxUnits ?? Infinity);
    if (batches.length === 0) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      let left = batches.length;
      let failed = false;
      for (const batch of batches) {
        const job: Job = {
          commands: batch.flatMap((p) => p.commands),
          units: new Map(batch.flatMap((p) => [...(p.units ?? [])])),
          write: o.write,
          sending: o.sending && ((sent) => o.sending!(batch, sent)),
          settle: async (answer) => {
            await settle(batch, answer);
            if (--left === 0 && !failed) resolve();
          },
          fail: (error) => {
            failed = true;
            reject(error);
          },
        };
        if (this.failure) job.fail(this.failure.error);
        else (o.write ? this.writes : this.reads).push(job);
      }
      this.pump();
    });
  }

  /** A batch failed: nothing more is sent, and what is queued fails with the same error. */
  get failed(): boolean {
    return this.failure !== null;
  }

  /** Resolves once fewer batches wait than can be in flight: time to queue more. */
  hungry(): Promise<void> {
    if (this.failure || this.reads.length + this.writes.length < this.concurrency) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Resolves once no batch is in flight (after a failure: nothing more will be). */
  async idle(): Promise<void> {
    while (this.running > 0 || (!this.failure && this.reads.length + this.writes.length > 0)) {
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
  }

  private pump(): void {
    while (!this.failure && this.running < this.concurrency) {
      const job = this.reads.shift() ?? this.writes.shift();
      if (!job) break;
      this.running += 1;
      void this.run(job).finally(() => {
        this.running -= 1;
        this.pump();
        this.wake();
      });
    }
    this.wake();
  }

  private async run(job: Job): Promise<void> {
    try {
      let answer: BatchAnswer | UnknownOutcomeError;
      try {
        answer = job.write ? await this.client.writeBatch(job.commands, job.units, job.sending) : await this.client.readBatch(job.commands);
      } catch (e) {
        if (!(e instanceof UnknownOutcomeError)) throw e;
        answer = e;
      }
      await job.settle(answer);
    } catch (e) {
      job.fail(e);
      this.halt(e);
    }
  }

  /** Nothing more is sent: what waits fails with `error`; what is at the portal is answered. */
  private halt(error: unknown): void {
    if (this.failure) return;
    this.failure = { error };
    for (const queued of [...this.reads.splice(0), ...this.writes.splice(0)]) queued.fail(error);
    this.wake();
  }

  private wake(): void {
    if (!this.failure && this.reads.length + this.writes.length >= this.concurrency && this.running > 0) return;
    for (const waiter of this.waiters.splice(0)) waiter();
  }
}

/** Pieces into batches of at most `max` commands and `maxUnits` units, in order, a piece never split. */
export function packBatches<T>(pieces: readonly Piece<T>[], max: number, maxUnits: number): Piece<T>[][] {
  const batches: Piece<T>[][] = [];
  let current: Piece<T>[] = [];
  let size = 0;
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
  return batches;
}

/** A list command's rows: crm.*.list answers an array (crm.item.list: {items: [...]}). */
export function rowsOf(result: unknown): Array<Record<string, unknown>> {
  if (Array.isArray(result)) return result as Array<Record<string, unknown>>;
  if (result && typeof result === 'object' && Array.isArray((result as { items?: unknown }).items)) return (result as { items: Array<Record<string, unknown>> }).items;
  return [];
}
