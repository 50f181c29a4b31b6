import crypto from 'node:crypto';
import type pg from 'pg';
import { inTransaction } from '../db/connection.js';
import { copyInto } from '../db/copy.js';
import { BinaryCopy } from '../db/copy-binary.js';
import type { Micros } from './change-time.js';
import { queueTransform, TRANSFORM_TIMING, type TransformTiming } from '../jobs/chain.js';
import { unparseable, type Entity, type LandingIssue, type SourceRecord } from './record.js';

export interface BatchTarget {
  source: string;
  entity: Entity;
  /** Where the batch came from: file path, table, topic. */
  origin: string;
}

export interface LandedBatch {
  batchId: number | null;
  received: number;
  landed: number;
  /** Records the server refused as they were and that were landed as raw text instead. */
  refused: number;
}

/**
 * What to do with a record whose payload the server refuses (PostgreSQL's JSON parser is
 * stricter than JavaScript's: a lone surrogate, a number past numeric's range, nesting past
 * its stack): return the detail to land it raw and rejected `unparseable` with, or null to
 * fail the batch. `tuple` is the record's number in the batch (1-based), `error` the server's.
 */
export type RefusedRecord = (tuple: number, error: RefusalError) => Promise<string | null> | string | null;

export interface RefusalError {
  code: string;
  message: string;
  detail?: string;
  where?: string;
}

/** staging.record's columns a landing writes, in COPY order. */
export const RECORD_COLUMNS = 'batch_id, source, entity, source_key, source_updated_at, is_deleted, payload, raw_text, payload_hash, landing_issues';
const FIELDS = 10;
const UNIQUE_VIOLATION = '23505';

/**
 * Lands one batch in staging.record with binary COPY, in one transaction: source records,
 * or the rows an adapter encoded as it read (RecordBatch). The same (source, entity, key,
 * payload hash) twice is one row: a batch of new versions is copied straight into
 * staging.record; if any of it was landed before, the copy is undone and the batch goes
 * through a temporary table and `on conflict do nothing`. A record whose payload the server
 * refuses is handled by `refused` (by default the batch fails). `alsoInTransaction` runs
 * before commit: the source's position is stored there, so it never runs ahead of the data.
 * (The landing pipeline, src/land/pipeline.ts, is what loaders use; this is the one-batch form.)
 */
export async function landBatch(
  pool: pg.Pool,
  target: BatchTarget,
  records: readonly SourceRecord[] | RecordBatch,
  alsoInTransaction?: (client: pg.PoolClient, batch: LandedBatch) => Promise<void>,
  refused?: RefusedRecord,
): Promise<LandedBatch> {
  const rows = records instanceof RecordBatch ? records : RecordBatch.of(target, records);
  try {
    return await inTransaction(pool, async (client) => {
      const batch = await landBatchIn(client, target, rows, refused, null);
      await alsoInTransaction?.(client, batch);
      // queued last: the job's row is locked until commit
      if (batch.landed > 0) await queueTransform(client);
      return batch;
    });
  } finally {
    if (rows !== records) rows.release();
  }
}

/**
 * One batch inside a transaction the caller holds (a Kafka fetch lands companies, contacts
 * and its offsets as one commit). A batch that landed anything queues the transform
 * (`transform`: its debounce and longest wait; null: the caller queues it) in the same transaction.
 */
export async function landBatchIn(
  client: pg.PoolClient,
  target: BatchTarget,
  rows: RecordBatch,
  refused?: RefusedRecord,
  transform: TransformTiming | null = TRANSFORM_TIMING,
): Promise<LandedBatch> {
  const received = rows.length;
  const { rows: [row] } = await client.query<{ batch_id: string }>(
    `insert into staging.batch (source, entity, origin, rows_received, rows_landed)
     values ($1, $2, $3, $4, 0) returning batch_id`,
    [target.source, target.entity, target.origin, received],
  );
  const batchId = Number(row!.batch_id);
  const data = rows.complete(batchId);
  const landed = await copyRecords(client, data, refused);
  const batch: LandedBatch = { batchId, received, landed, refused: data.rawCount };
  if (landed === 0) {
    // Everything was already there: leave no empty batch behind.
    await client.query('delete from staging.batch where batch_id = $1', [batchId]);
    batch.batchId = null;
  } else {
    await client.query('update staging.batch set rows_landed = $2 where batch_id = $1', [batchId, landed]);
    // what follows a landing is a job, committed with it
    if (transform) await queueTransform(client, transform);
  }
  return batch;
}

/** A batch's COPY data, and turning one of its records into raw text after the server refused it. */
interface CopyData {
  readonly length: number;
  readonly rawCount: number;
  pieces(): Iterable<Buffer>;
  makeRaw(tuple: number, detail: string): void;
}

/** Straight into staging.record; through a temporary table when some of it was landed before. */
async function copyRecords(client: pg.PoolClient, data: CopyData, refused?: RefusedRecord): Promise<number> {
  const straight = await copyRetrying(client, 'staging.record', data, refused, UNIQUE_VIOLATION);
  if (straight) return data.length;
  // one transaction may land several batches (a Kafka fetch holds companies and contacts)
  await client.query(`drop table if exists pg_temp.landing`);
  await client.query(`create temp table landing on commit drop as select ${RECORD_COLUMNS} from staging.record with no data`);
  await copyRetrying(client, 'landing', data, refused, null);
  const inserted = await client.query(
    `insert into staging.record (${RECORD_COLUMNS})
     select ${RECORD_COLUMNS} from landing
     on conflict (source, entity, source_key, payload_hash) do nothing`,
  );
  return inserted.rowCount ?? 0;
}

/**
 * COPY under a savepoint, again after each record the server refuses and `refused` lets
 * land raw. Returns false when the server reported `giveUpOn` (the data is left unsent).
 */
async function copyRetrying(client: pg.PoolClient, table: string, data: CopyData, refused: RefusedRecord | undefined, giveUpOn: string | null): Promise<boolean> {
  for (;;) {
    await client.query('savepoint landing_copy');
    try {
      await copyInto(client, `copy ${table} (${RECORD_COLUMNS}) from stdin with (format binary)`, data.pieces());
      await client.query('release savepoint landing_copy');
      return true;
    } catch (e) {
      await client.query('rollback to savepoint landing_copy');
      await client.query('release savepoint landing_copy');
      const error = e as RefusalError;
      if (error.code === giveUpOn) return false;
      const tuple = refusedTuple(error);
      const detail = tuple === null || !refused ? null : await refused(tuple, error);
      if (tuple === null || detail === null) throw e;
      data.makeRaw(tuple, detail);
    }
  }
}

/**
 * The record (1-based, in COPY order) whose payload the server refused: a data exception
 * (22xxx) or nesting past the stack limit (54001) in the payload column; null for any other error.
 */
export function refusedTuple(error: RefusalError): number | null {
  if (!(error.code?.startsWith('22') || error.code === '54001')) return null;
  const match = /(?:^|\n)COPY \w+, line (\d+), column payload\b/.exec(error.where ?? '');
  return match ? Number(match[1]) : null;
}

/** The server's words for a refusal, for the rejection's detail. */
export function refusalText(error: RefusalError): string {
  return `PostgreSQL refused the JSON: ${error.message}${error.detail ? ` (${error.detail})` : ''}`;
}


/** One staging.record row (RECORD_COLUMNS), its payload hash computed here; returns the hash (16 bytes, latin1). */
function writeRow(
  out: BinaryCopy,
  batchId: number,
  columns: { source: Buffer; entity: Buffer },
  key: string,
  time: Micros | null,
  isDeleted: boolean,
  payload: Buffer | string | null,
  raw: string | null,
  issues: string | null,
): string {
  const hashed = payload ?? raw ?? '';
  out.row(FIELDS);
  out.int64(batchId);
  out.bytes(columns.source);
  out.bytes(columns.entity);
  // a key keeps U+0000 visibly: dropped, 'Z\0' would become the key of another record 'Z'
  out.text(key.includes('\u0000') ? key.replaceAll('\u0000', '\\u0000') : key);
  if (time === null) out.null();
  else out.int64(time);
  out.bool(isDeleted);
  if (payload === null) out.null();
  else out.jsonb(payload);
  if (raw === null) out.null();
  else out.text(raw);
  const hash = md5(isDeleted ? Buffer.concat([toBytes(hashed), DELETED]) : hashed);
  out.latin1(hash);
  if (issues === null) out.null();
  else out.jsonb(issues);
  return hash;
}

/** The issues as jsonb text; U+0000 (which jsonb cannot hold) is dropped from what they quote. */
const issuesJson = (issues: LandingIssue[] | undefined) =>
  (issues && issues.length > 0 ? JSON.stringify(issues, (_key, v: unknown) => (typeof v === 'string' ? v.replaceAll('\u0000', '') : v)) : null);

/** What the landing changed in a record so it could be stored: said, never silent. */
const NUL_REMOVED: LandingIssue = {
  reason: 'nul_removed', severity: 'warning',
  detail: 'the record held U+0000 characters, which PostgreSQL cannot store; they were removed from its text',
};

/**
 * A batch of staging rows as binary COPY data, encoded as an adapter reads (file records as
 * they are scanned, MySQL rows, Kafka messages): each record is hashed and written at once,
 * so nothing is held but the data itself. The batch id is filled in when the batch lands. The
 * records' payload hashes are kept in order, 16 bytes each, for a file's progress digest.
 */
export class RecordBatch {
  private readonly out: BinaryCopy;
  private readonly columns: { source: Buffer; entity: Buffer };
  /** Where each row starts in the data. */
  private readonly starts: number[] = [];
  /** The records' payload hashes, 16 bytes each (not strings: kept for a whole batch, they would age into the old heap). */
  private hashBytes = Buffer.allocUnsafe(16 * 1024);
  /** Records the adapter could not read, added raw and rejected unparseable. */
  unreadable = 0;
  private firstRaw = 0;
  private firstRawWhy: string | null = null;

  /** `expectedBytes`: about what the batch will take (the last one's size); new memory gets a quarter more. */
  constructor(target: Pick<BatchTarget, 'source' | 'entity'>, expectedBytes = 1 << 20) {
    this.out = new BinaryCopy(Math.ceil(expectedBytes * 1.25), true, takeSpare(expectedBytes));
    this.columns = { source: Buffer.from(target.source), entity: Buffer.from(target.entity) };
  }

  /** Source records as a batch. */
  static of(target: Pick<BatchTarget, 'source' | 'entity'>, records: readonly SourceRecord[]): RecordBatch {
    const batch = new RecordBatch(target, 64 << 10);
    for (const record of records) batch.addRecord(record);
    return batch;
  }

  /**
   * The batch is landed (or failed): its memory builds a later batch. A long load so makes
   * no garbage the size of its batches, and its memory does not wait for the collector.
   */
  release(): void {
    if (spare.length < SPARE_BUFFERS) spare.push(this.out.memory);
  }

  get length(): number {
    return this.starts.length;
  }

  /** COPY data built so far. */
  get bytes(): number {
    return this.out.size;
  }

  /** The first record (1-based) the adapter could not read; 0 when there is none. */
  firstUnreadable(): number {
    return this.firstRaw;
  }

  /** Why the first record that could not be read could not (its unparseable issue's detail). */
  firstUnreadableWhy(): string | null {
    return this.firstRawWhy;
  }

  /** The payload hashes of the records, in order, 16 bytes each. */
  hashes(): Buffer {
    return this.hashBytes.subarray(0, this.starts.length * 16);
  }

  /** A record: its key, change time, deletion flag, JSON text (compact) and what the adapter could not read. */
  add(key: string, updatedAt: Micros | null, isDeleted: boolean, payload: Buffer | string, issues?: LandingIssue[]): void {
    const stored = withoutNul(payload);
    const said = stored === payload ? issues : [...(issues ?? []), NUL_REMOVED];
    this.write(key, updatedAt, isDeleted, stored, null, said);
  }

  /** A record that could not be read: its text as it arrived, and why (an `unparseable` issue among `issues`). */
  addRaw(key: string, updatedAt: Micros | null, isDeleted: boolean, raw: string, issues: LandingIssue[]): void {
    this.unreadable += 1;
    if (this.firstRaw === 0) {
      this.firstRaw = this.starts.length + 1;
      this.firstRawWhy = issues.find((i) => i.reason === 'unparseable')?.detail ?? null;
    }
    this.write(key, updatedAt, isDeleted, null, raw, issues);
  }

  /** A source record: its payload as it arrived (payloadText) or serialised, or raw when it did not parse. */
  addRecord(record: SourceRecord): void {
    const { sourceKey, updatedAt, isDeleted, issues } = record;
    if (record.payloadBytes !== undefined) return this.add(sourceKey, updatedAt, isDeleted, record.payloadBytes, issues);
    if (record.payloadText !== undefined) return this.add(sourceKey, updatedAt, isDeleted, record.payloadText, issues);
    if (record.payload !== undefined) return this.add(sourceKey, updatedAt, isDeleted, JSON.stringify(record.payload), issues);
    return this.addRaw(sourceKey, updatedAt, isDeleted, record.rawText ?? '', issues ?? []);
  }

  private write(key: string, updatedAt: Micros | null, isDeleted: boolean, payload: Buffer | string | null, raw: string | null, issues: LandingIssue[] | undefined): void {
    const at = this.starts.length * 16;
    if (at + 16 > this.hashBytes.length) {
      const bigger = Buffer.allocUnsafe(this.hashBytes.length * 2);
      this.hashBytes.copy(bigger);
      this.hashBytes = bigger;
    }
    this.starts.push(this.out.size);
    this.hashBytes.write(writeRow(this.out, 0, this.columns, key, updatedAt, isDeleted, payload, raw, issuesJson(issues)), at, 'latin1');
  }

  /** The COPY data with the batch id filled in. */
  complete(batchId: number): CopyData {
    const end = this.out.size;
    const data = this.out.finish();
    const id = BigInt(batchId);
    for (const at of this.starts) data.writeBigInt64BE(id, at + 2 + 4); // after the field count and the length
    return new CompletedRows(data, this.starts, end);
  }
}

/** Memory of landed batches, kept to build the next ones in (a load has three at a time: two sent, one built). */
const spare: Buffer[] = [];
const SPARE_BUFFERS = 4;

function takeSpare(bytes: number): Buffer | undefined {
  const i = spare.findIndex((b) => b.length >= bytes);
  return i < 0 ? undefined : spare.splice(i, 1)[0];
}

/** A batch's COPY data, with the rows the server refused replaced by raw ones. */
class CompletedRows implements CopyData {
  private readonly replaced = new Map<number, Buffer>();

  constructor(private readonly data: Buffer, private readonly starts: number[], private readonly end: number) {}

  get length(): number {
    return this.starts.length;
  }

  get rawCount(): number {
    return this.replaced.size;
  }

  *pieces(): Generator<Buffer> {
    let from = 0;
    for (const tuple of [...this.replaced.keys()].sort((a, b) => a - b)) {
      yield this.data.subarray(from, this.starts[tuple - 1]);
      yield this.replaced.get(tuple)!;
      from = this.rowEnd(tuple);
    }
    yield this.data.subarray(from);
  }

  /**
   * The row again with the payload as raw text (not valid UTF-8 becomes U+FFFD: text
   * cannot hold it) and an `unparseable` issue; key, time, flag and hash stay.
   */
  makeRaw(tuple: number, detail: string): void {
    const fields: Buffer[] = [];
    let at = this.starts[tuple - 1]! + 2;
    for (let f = 0; f < FIELDS; f++) {
      const length = this.data.readInt32BE(at);
      fields.push(length < 0 ? NULL_FIELD : this.data.subarray(at + 4, at + 4 + length));
      at += 4 + Math.max(length, 0);
    }
    const [batch, source, entity, key, time, deleted, payload, , hash, issues] = fields as [Buffer, Buffer, Buffer, Buffer, Buffer, Buffer, Buffer, Buffer, Buffer, Buffer];
    const row = new BinaryCopy(payload.length * 2 + 1024, false);
    row.row(FIELDS);
    for (const field of [batch, source, entity, key, time, deleted]) {
      if (field === NULL_FIELD) row.null();
      else row.bytes(field);
    }
    row.null();
    row.text(payload.subarray(1).toString('utf8').replaceAll('\u0000', ''));
    row.bytes(hash);
    const earlier = issues === NULL_FIELD ? [] : (JSON.parse(issues.subarray(1).toString('utf8')) as LandingIssue[]);
    row.jsonb(JSON.stringify([...earlier, unparseable(detail)]));
    this.replaced.set(tuple, row.take());
  }

  private rowEnd(tuple: number): number {
    return tuple < this.starts.length ? this.starts[tuple]! : this.end;
  }
}

const NULL_FIELD = Buffer.alloc(0);
const DELETED = Buffer.from(':deleted');
const toBytes = (payload: Buffer | string) => (typeof payload === 'string' ? Buffer.from(payload) : payload);

const BACKSLASH = 92;
const NUL_ESCAPE = Buffer.from('\\u0000');
/**
 * jsonb cannot hold U+0000: a record with one goes through JSON.parse and loses the
 * character (one that does not parse goes as it is, for the server to refuse and locate).
 */
function withoutNul(json: Buffer | string): Buffer | string {
  if (typeof json === 'string' ? !json.includes('\\u0000') : json.indexOf(BACKSLASH) < 0 || json.indexOf(NUL_ESCAPE) < 0) return json;
  try {
    const value: unknown = JSON.parse(json.toString());
    const cleaned = jsonForPostgres(value);
    return cleaned === JSON.stringify(value) ? json : cleaned;
  } catch {
    return json;
  }
}

/** The md5 digest's 16 bytes as a latin1 string (the fastest form node returns): staging.record.payload_hash. */
export const md5: (data: string | Buffer) => string =
  typeof (crypto as { hash?: unknown }).hash === 'function'
    ? (data) => (crypto as unknown as { hash: (a: string, d: string | Buffer, e: string) => string }).hash('md5', data, 'latin1')
    : (data) => crypto.createHash('md5').update(data).digest().toString('latin1');

/**
 * The payload as compact JSON, so the same record sent pretty-printed or compact has one
 * hash. jsonb cannot hold U+0000; such characters are dropped rather than failing the batch.
 */
function jsonForPostgres(value: unknown): string {
  const text = JSON.stringify(value);
  if (!text.includes('\\u0000')) return text;
  return JSON.stringify(value, (_key, v: unknown) => (typeof v === 'string' ? v.replaceAll('\u0000', '') : v));
}
