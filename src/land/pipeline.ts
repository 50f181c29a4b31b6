import type pg from 'pg';
import { inTransaction } from '../db/connection.js';
import { queueTransform, TRANSFORM_TIMING, type TransformTiming } from '../jobs/chain.js';
import type { Progress } from './progress.js';
import { formatCount } from './progress.js';
import { landBatchIn, refusalText, type BatchTarget, type LandedBatch, type RecordBatch, type RefusalError } from './staging-writer.js';

/**
 * What a landing does with a record it cannot land as it is (not readable, or JSON the
 * server refuses): it lands it raw, rejected `unparseable`, until more than `max` such records
 * came in one run (a file load, a MySQL sync, a consumer's life); then it stops. The same for
 * every source; only the default differs (see badRecordPolicy in config.ts).
 */
export interface BadRecordPolicy {
  /** Infinity: never stop for bad records. */
  max: number;
  /** Where the limit is set, named in the message that stops: `--max-errors`, `sources.store_a.maxBadRecords`. */
  setting: string;
}

/** "--max-errors 5", "sources.store_b_events.maxBadRecords: no limit". */
export function describePolicy(policy: BadRecordPolicy): string {
  return Number.isFinite(policy.max) ? `${policy.setting} ${formatCount(policy.max)}` : `${policy.setting}: no limit`;
}

/** The landing stopped: more records could not be landed as they are than its policy allows. */
export class TooManyBadRecords extends Error {}

/** A landing that did not commit because the one before it in its lane failed (that failure is the one to report). */
export class EarlierLandingFailed extends Error {
  constructor(lane: string) {
    super(`not landed: the landing before it in ${lane} failed`);
  }
}

export interface LandingBatch {
  target: BatchTarget;
  rows: RecordBatch;
  /** Where record n (1-based) of the batch came from, for a rejection's detail and a stop's message. */
  locate: (tuple: number) => string;
}

/** One commit: batches of records and the source's position after them. */
export interface Landing {
  batches: LandingBatch[];
  /** Commits are in order within a lane (a MySQL table, a file, a Kafka partition); lanes commit independently. */
  lane: string;
  /**
   * What the source stores with the rows, in their transaction, after every landing before
   * this one in its lane has committed (a file's progress, a MySQL watermark, Kafka offsets).
   */
  position?: (client: pg.PoolClient, landed: LandedBatch[]) => Promise<void>;
  /** The landing's place for the progress line (bytes of a file read, rows of a table); default: records landed so far. */
  at?: number;
  /** After the commit. */
  committed?: (landed: LandedBatch[]) => void;
  /**
   * What to land instead after `error` (Kafka: the messages another member has not landed
   * meanwhile); null: nothing; undefined: the error stands.
   */
  redo?: (error: unknown) => Landing | null | undefined;
  /** A failure in the adapter's words (a file names the record's byte offset). */
  explain?: (error: unknown) => Promise<unknown> | unknown;
}

export interface PipelineOptions {
  badRecords: BadRecordPolicy;
  /** Landings written at once: the next one's COPY runs while the one before commits. */
  inFlight?: number;
  /** The transform a landing queues (debounce and longest wait). */
  transform?: TransformTiming;
  progress?: Progress;
}

export interface PipelineStats {
  /** Records handed to the pipeline that committed. */
  records: number;
  /** New versions they made (a version landed before lands once). */
  landed: number;
  /** Records landed raw and rejected unparseable. */
  bad: number;
  batches: number;
}

/**
 * The one writer every source lands through: an adapter (file, MySQL, Kafka) reads its
 * records into RecordBatches and hands them over as landings; the pipeline writes up to
 * `inFlight` at once, each in one transaction with the source's position, commits each
 * lane in order, queues the transform with every landing that added a version, applies
 * the bad-record policy, and reports progress.
 */
export class LandingPipeline {
  readonly stats: PipelineStats = { records: 0, landed: 0, bad: 0, batches: 0 };
  private readonly inFlight = new Set<Promise<unknown>>();
  private readonly lanes = new Map<string, Promise<unknown>>();
  private failure: { error: unknown } | null = null;
  private badSeen = 0;
  private readonly limit: number;

  constructor(private readonly pool: pg.Pool, private readonly o: PipelineOptions) {
    this.limit = Math.max(o.inFlight ?? 2, 1);
  }

  /** Waits for room, then starts the landing; throws an earlier landing's failure. */
  async write(landing: Landing): Promise<void> {
    await this.room();
    this.throwIfFailed();
    this.land(landing).catch((e: unknown) => {
      if (!(e instanceof EarlierLandingFailed)) this.failure ??= { error: e };
    });
  }

  /**
   * Lands one landing (waiting for room) and resolves when it has committed. A failure is
   * the caller's to handle; it does not stop the pipeline (write() does).
   */
  async land(landing: Landing): Promise<LandedBatch[]> {
    await this.room();
    const before = this.lanes.get(landing.lane);
    const written = this.commit(landing, before);
    const settled = written.then(() => {}, () => {});
    this.lanes.set(landing.lane, written);
    this.inFlight.add(settled);
    void settled.finally(() => {
      this.inFlight.delete(settled);
      if (this.lanes.get(landing.lane) === written) this.lanes.delete(landing.lane);
      for (const b of landing.batches) b.rows.release();
    });
    return written;
  }

  /** Waits for every landing; throws the first failure of a write(). */
  async finish(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.all(this.inFlight);
    this.throwIfFailed();
  }

  /** The first failure of a write(), if any. */
  get failed(): unknown {
    return this.failure?.error ?? null;
  }

  /** Resolves when a landing can start at once (fewer than `inFlight` are being written). */
  ready(): Promise<void> {
    return this.room();
  }

  private async room(): Promise<void> {
    while (this.inFlight.size >= this.limit) await Promise.race(this.inFlight);
  }

  private throwIfFailed(): void {
    if (this.failure) throw this.failure.error;
  }

  private async commit(landing: Landing, before: Promise<unknown> | undefined): Promise<LandedBatch[]> {
    const unreadable = landing.batches.reduce((n, b) => n + b.rows.unreadable, 0);
    let bad = 0;
    let stoppedAt: string | null = null;
    // bad records are counted as they are met, landings in flight included, so two landings
    // at once never pass the limit together; a landing that fails gives its count back
    this.badSeen += unreadable;
    try {
      if (this.badSeen > this.o.badRecords.max) {
        throw new TooManyBadRecords(`${this.tooMany()} ${this.firstUnreadable(landing)}`);
      }
      const landed = await inTransaction(this.pool, async (client) => {
        const results: LandedBatch[] = [];
        for (const b of landing.batches) {
          const refused = (tuple: number, error: RefusalError) => {
            if (this.badSeen + 1 > this.o.badRecords.max) {
              stoppedAt = b.locate(tuple);
              return null;
            }
            bad += 1;
            this.badSeen += 1;
            return `${b.locate(tuple)}: ${refusalText(error)}`;
          };
          results.push(await landBatchIn(client, b.target, b.rows, refused, null));
        }
        // a lane commits in order: its position never passes a landing that did not commit
        if (before) await before.catch(() => { throw new EarlierLandingFailed(landing.lane); });
        await landing.position?.(client, results);
        // last: the job's row stays locked until commit
        if (results.some((r) => r.landed > 0)) await queueTransform(client, this.o.transform ?? TRANSFORM_TIMING);
        return results;
      });
      this.stats.records += landing.batches.reduce((n, b) => n + b.rows.length, 0);
      this.stats.landed += landed.reduce((n, r) => n + r.landed, 0);
      this.stats.bad += unreadable + bad;
      this.stats.batches += landing.batches.length;
      landing.committed?.(landed);
      this.o.progress?.update(this.stats.records, landing.at ?? this.stats.records);
      return landed;
    } catch (e) {
      this.badSeen -= unreadable + bad;
      if (e instanceof EarlierLandingFailed) throw e;
      const again = landing.redo?.(e);
      if (again === null) return [];
      if (again !== undefined) {
        try {
          return await this.commit(again, before);
        } finally {
          for (const b of again.batches) b.rows.release();
        }
      }
      const error = stoppedAt === null ? e : new TooManyBadRecords(`${this.tooMany()} ${stoppedAt}: ${refusalText(e as RefusalError)}`, { cause: e });
      throw landing.explain ? await landing.explain(error) : error;
    }
  }

  private tooMany(): string {
    return `more than ${formatCount(this.o.badRecords.max)} records could not be landed as they are (${this.o.badRecords.setting}); the landing stopped at`;
  }

  /** The first record of the landing that could not be read: where it is, and why. */
  private firstUnreadable(landing: Landing): string {
    for (const b of landing.batches) {
      const tuple = b.rows.firstUnreadable();
      if (tuple === 0) continue;
      const where = b.locate(tuple);
      // what it quotes of the record's bytes may hold control characters: not for a terminal
      const why = b.rows.firstUnreadableWhy()?.replace(/[\u0000-\u0008\u000b-\u001f\u007f]/g, '\ufffd') ?? null;
      // the detail names the record itself when it can
      return why === null ? where : why.startsWith(where) ? why : `${where}: ${why}`;
    }
    return 'unknown';
  }
}
