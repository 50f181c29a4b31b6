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

/** Kafka and MySQL rows: a refused record always lands raw, and the rest of the batch goes on. */
export const LAND_REFUSED_RAW: RefusedRecord = (_tuple, error) => refusalText(error);

/**
 * Lands one batch in staging.record with binary COPY, in one transaction: source records,
 * or the rows a file load built as it read (PreparedRows). The same (source,
 * entity, key, payload hash) twice is one row: a batch of new versions is copied straight
 * into staging.record; if any of it was landed before, the copy is undone and the batch
 * goes through a temporary table and `on conflict do nothing`. A record whose payload the
 * server refuses is handled by `refused` (by default the batch fails). `alsoInTransaction`
 * runs before commit — loaders store their position there (file progress, Kafka offsets,
 * MySQL watermark) so it can never run ahead of the data.
 */
export async function landBatch(
  pool: pg.Pool,
  target: BatchTarget,
  records: readonly SourceRecord[] | PreparedRows,
  alsoInTransaction?: (client: pg.PoolClient, batch: LandedBatch) => Promise<void>,
  refused?: RefusedRecord,
): Promise<LandedBatch> {
  return inTransaction(pool, async (client) => {
    const batch = await landBatchIn(client, target, records, refused, null);
    await alsoInTransaction?.(client, batch);
    // queued last: the job's row is locked until commit, and a loader that keeps batches in
    // flight commits them in order (its position may wait for the batch before)
    if (batch.landed > 0) await queueTransform(client);
    return batch;
  });
}

/**
 * landBatch inside a transaction the caller holds: for a loader that lands several
 * batches (companies and contacts of one Kafka fetch) and its position as one commit. A batch
 * that landed anything queues the transform (`transform`: its debounce and longest wait; null:
 * the caller queues it) in the same transaction.
 */
export async function landBatchIn(
  client: pg.PoolClient,
  target: BatchTarget,
  records: readonly SourceRecord[] | PreparedRows,
  refused?: RefusedRecord,
  transform: TransformTiming | null = TRANSFORM_TIMING,
): Promise<LandedBatch> {
  const received = records.length;
  const { rows } = await client.query<{ batch_id: string }>(
    `insert into staging.batch (source, entity, origin, rows_received, rows_landed)
     values ($1, $2, $3, $4, 0) returning batch_id`,
    [target.source, target.entity, target.origin, received],
  );
  const batchId = Number(rows[0]!.batch_id);
  const data: CopyData = records instanceof PreparedRows ? records.complete(batchId) : new RecordRows(batchId, target, records);
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

/**
 * Source records as binary COPY data in RECORD_COLUMNS order, built as they are sent, in
 * pieces of about 256 KiB. Tuple n of the data is records[n - 1], so a row the server refuses
 * is located. (Source records are built while they are sent, the server's copying overlapping
 * node's hashing; building them ahead as PreparedRows, like file records, made land mysql about
 * a tenth slower: 1.99–2.27 s against 1.79–1.92 s for store A's seed.)
 */
class RecordRows implements CopyData {
  private records: readonly SourceRecord[];
  private readonly columns: { source: Buffer; entity: Buffer };
  rawCount = 0;

  constructor(private readonly batchId: number, target: BatchTarget, records: readonly SourceRecord[]) {
    this.records = records;
    this.columns = { source: Buffer.from(target.source), entity: Buffer.from(target.entity) };
  }

  get length(): number {
    return this.records.length;
  }

  *pieces(): Generator<Buffer> {
    const out = new BinaryCopy(COPY_PIECE + (64 << 10));
    for (const record of this.records) {
      let payload: string | null = null;
      let issues = record.issues;
      if (record.payloadText !== undefined && !record.payloadText.includes('\\u0000')) payload = record.payloadText;
      else if (record.payload !== undefined) {
        const text = JSON.stringify(record.payload);
        payload = text.includes('\\u0000') ? jsonForPostgres(record.payload) : text;
        if (payload !== text) issues = [...(issues ?? []), NUL_REMOVED];
      }
      const raw = payload === null ? (record.rawText ?? '') : null;
      writeRow(out, this.batchId, this.columns, record.sourceKey, record.updatedAt, record.isDeleted, payload, raw, issuesJson(issues));
      if (out.size >= COPY_PIECE) yield out.take();
    }
    yield out.finish();
  }

  makeRaw(tuple: number, detail: string): void {
    const copy = [...this.records];
    const r = copy[tuple - 1]!;
    copy[tuple - 1] = {
      ...r,
      payload: undefined,
      payloadText: undefined,
      rawText: r.payloadText ?? (r.payload === undefined ? r.rawText : JSON.stringify(r.payload)),
      issues: [...(r.issues ?? []), unparseable(detail)],
    };
    this.records = copy;
    this.rawCount += 1;
  }
}

const COPY_PIECE = 256 << 10;

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
 * A batch built while a file is read: each record is hashed and written into the COPY data
 * as soon as it is scanned, so nothing of the file is held but the data itself. The batch id
 * is filled in when the batch lands. The records' payload hashes are kept in order, 16
 * bytes each, for the file's progress digest.
 */
export class PreparedRows {
  private readonly out: BinaryCopy;
  private readonly columns: { source: Buffer; entity: Buffer };
  /** Where each row starts in the data. */
  private readonly starts: number[] = [];
  /** The records' payload hashes, 16 bytes each (not strings: kept for a whole batch, they would age into the old heap). */
  private hashBytes = Buffer.allocUnsafe(16 * 1024);

  /** `expectedBytes`: about what the batch will take (the last one's size); new memory gets a quarter more. */
  constructor(target: BatchTarget, expectedBytes: number) {
    this.out = new BinaryCopy(Math.ceil(expectedBytes * 1.25), true, takeSpare(expectedBytes));
    this.columns = { source: Buffer.from(target.source), entity: Buffer.from(target.entity) };
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

  /** The payload hashes of the records, in order, 16 bytes each. */
  hashes(): Buffer {
    return this.hashBytes.subarray(0, this.starts.length * 16);
  }

  /** A record: its key, change time, deletion flag, compact JSON bytes and what the loader could not read. */
  add(key: string, updatedAt: Micros | null, isDeleted: boolean, payload: Buffer, issues?: LandingIssue[]): void {
    const at = this.starts.length * 16;
    if (at + 16 > this.hashBytes.length) {
      const bigger = Buffer.allocUnsafe(this.hashBytes.length * 2);
      this.hashBytes.copy(bigger);
      this.hashBytes = bigger;
    }
    this.starts.push(this.out.size);
    const stored = withoutNul(payload);
    const said = stored === payload ? issues : [...(issues ?? []), NUL_REMOVED];
    this.hashBytes.write(writeRow(this.out, 0, this.columns, key, updatedAt, isDeleted, stored, null, issuesJson(said)), at, 'latin1');
  }

  /** The COPY data with the batch id filled in. */
  complete(batchId: number): CopyData {
    const end = this.out.size;
    const data = this.out.finish();
    const id = BigInt(batchId);
    for (const at of this.starts) data.writeBigInt64BE(id, at + 2 + 4); // after the field count and the length
    return new PreparedData(data, this.starts, end);
  }
}

/** Memory of landed batches, kept to build the next ones in (a load has three at a time: two sent, one built). */
const spare: Buffer[] = [];
const SPARE_BUFFERS = 4;

function takeSpare(bytes: number): Buffer | undefined {
  const i = spare.findIndex((b) => b.length >= bytes);
  return i < 0 ? undefined : spare.splice(i, 1)[0];
}

/** A file batch's COPY data, with the rows the server refused replaced by raw ones. */
class PreparedData implements CopyData {
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
function withoutNul(bytes: Buffer): Buffer | string {
  if (bytes.indexOf(BACKSLASH) < 0 || bytes.indexOf(NUL_ESCAPE) < 0) return bytes;
  try {
    const value: unknown = JSON.parse(bytes.toString('utf8'));
    const cleaned = jsonForPostgres(value);
    return cleaned === JSON.stringify(value) ? bytes : cleaned;
  } catch {
    return bytes;
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
