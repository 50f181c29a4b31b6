import crypto from 'node:crypto';
import type pg from 'pg';
import { inTransaction } from '../db/connection.js';
import { copyInto } from '../db/copy.js';
import { BinaryCopy, zonedMicros } from '../db/copy-binary.js';
import type { Entity, SourceRecord } from './record.js';

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
}

/** staging.record's columns a landing writes, in COPY order. */
export const RECORD_COLUMNS = 'batch_id, source, entity, source_key, source_updated_at, is_deleted, payload, raw_text, payload_hash';
const UNIQUE_VIOLATION = '23505';

/**
 * Lands one batch in staging.record with binary COPY, in one transaction: source records,
 * or the rows a file load built as it read (PreparedRows). The same (source,
 * entity, key, payload hash) twice is one row: a batch of new versions is copied straight
 * into staging.record; if any of it was landed before, the copy is undone and the batch
 * goes through a temporary table and `on conflict do nothing`. `alsoInTransaction` runs
 * before commit — loaders store their position there (file progress, Kafka offsets,
 * MySQL watermark) so it can never run ahead of the data.
 */
export async function landBatch(
  pool: pg.Pool,
  target: BatchTarget,
  records: readonly SourceRecord[] | PreparedRows,
  alsoInTransaction?: (client: pg.PoolClient, batch: LandedBatch) => Promise<void>,
): Promise<LandedBatch> {
  return inTransaction(pool, async (client) => {
    const batch = await landBatchIn(client, target, records);
    await alsoInTransaction?.(client, batch);
    return batch;
  });
}

/**
 * landBatch inside a transaction the caller holds: for a loader that lands several
 * batches (companies and contacts of one Kafka fetch) and its position as one commit.
 */
export async function landBatchIn(client: pg.PoolClient, target: BatchTarget, records: readonly SourceRecord[] | PreparedRows): Promise<LandedBatch> {
  const received = records.length;
  const { rows } = await client.query<{ batch_id: string }>(
    `insert into staging.batch (source, entity, origin, rows_received, rows_landed)
     values ($1, $2, $3, $4, 0) returning batch_id`,
    [target.source, target.entity, target.origin, received],
  );
  const batchId = Number(rows[0]!.batch_id);
  let data: () => Iterable<Buffer>;
  if (records instanceof PreparedRows) {
    const built = await records.complete(client, batchId);
    data = () => [built];
  } else {
    const times = await timestampsOf(client, records);
    data = () => copyRows(batchId, target, records, times);
  }
  let landed: number;
  await client.query('savepoint straight_copy');
  try {
    await copyInto(client, `copy staging.record (${RECORD_COLUMNS}) from stdin with (format binary)`, data());
    landed = received;
  } catch (e) {
    if ((e as { code?: string }).code !== UNIQUE_VIOLATION) throw e;
    await client.query('rollback to savepoint straight_copy');
    landed = await landNewOnly(client, data);
  }
  await client.query('release savepoint straight_copy');
  const batch: LandedBatch = { batchId, received, landed };
  if (landed === 0) {
    // Everything was already there: leave no empty batch behind.
    await client.query('delete from staging.batch where batch_id = $1', [batchId]);
    batch.batchId = null;
  } else {
    await client.query('update staging.batch set rows_landed = $2 where batch_id = $1', [batchId, landed]);
  }
  return batch;
}

async function landNewOnly(client: pg.PoolClient, data: () => Iterable<Buffer>): Promise<number> {
  // one transaction may land several batches (a Kafka fetch holds companies and contacts)
  await client.query(`drop table if exists pg_temp.landing`);
  await client.query(`create temp table landing on commit drop as select ${RECORD_COLUMNS} from staging.record with no data`);
  await copyInto(client, `copy landing (${RECORD_COLUMNS}) from stdin with (format binary)`, data());
  const inserted = await client.query(
    `insert into staging.record (${RECORD_COLUMNS})
     select ${RECORD_COLUMNS} from landing
     on conflict (source, entity, source_key, payload_hash) do nothing`,
  );
  return inserted.rowCount ?? 0;
}

/**
 * Each source change time of the batch as microseconds since 2000 (timestamptz in binary
 * COPY). Times with an explicit offset are computed here; any other text is read by the
 * server, in this session, exactly as a text COPY would have read it.
 */
async function timestampsOf(client: pg.PoolClient, records: readonly SourceRecord[]): Promise<Map<string, number | bigint>> {
  const times = new Map<string, number | bigint>();
  const ask = new Set<string>();
  for (const { updatedAt } of records) {
    if (updatedAt === null || times.has(updatedAt) || ask.has(updatedAt)) continue;
    const micros = zonedMicros(updatedAt);
    if (micros === null) ask.add(updatedAt);
    else times.set(updatedAt, micros);
  }
  for (const [text, micros] of await serverMicros(client, ask)) times.set(text, micros);
  return times;
}

/** Times as the server reads them in this session (no offset: its time zone). */
async function serverMicros(client: pg.PoolClient, texts: Iterable<string>): Promise<Map<string, bigint>> {
  const list = [...texts];
  const times = new Map<string, bigint>();
  if (list.length === 0) return times;
  const { rows } = await client.query<{ t: string; micros: string }>(
    `select t, ((extract(epoch from t::timestamptz) * 1000000)::int8 - 946684800000000)::text as micros
     from unnest($1::text[]) as t`,
    [list],
  );
  for (const row of rows) times.set(row.t, BigInt(row.micros));
  return times;
}

/**
 * The batch as binary COPY data in RECORD_COLUMNS order, built as it is sent, in pieces of
 * about 256 KiB. Tuple n of the data is records[n - 1], so a row the server refuses is located.
 * (Source records are built while they are sent, the server's copying overlapping node's
 * hashing; building them ahead as PreparedRows, like file records, made land mysql about a
 * tenth slower: 1.99–2.27 s against 1.79–1.92 s for store A's seed.)
 */
function* copyRows(batchId: number, target: BatchTarget, records: readonly SourceRecord[], times: Map<string, number | bigint>): Generator<Buffer> {
  const out = new BinaryCopy(COPY_PIECE + (64 << 10));
  const columns = { source: Buffer.from(target.source), entity: Buffer.from(target.entity) };
  for (const record of records) {
    let payload: string | null = null;
    if (record.payloadText !== undefined && !record.payloadText.includes('\\u0000')) payload = record.payloadText;
    else if (record.payload !== undefined) payload = jsonForPostgres(record.payload);
    const time = record.updatedAt === null ? null : times.get(record.updatedAt)!;
    writeRow(out, batchId, columns, record.sourceKey, time, record.isDeleted, payload, payload === null ? (record.rawText ?? '') : null);
    if (out.size >= COPY_PIECE) yield out.take();
  }
  yield out.finish();
}

const COPY_PIECE = 256 << 10;

/**
 * One staging.record row (RECORD_COLUMNS), its payload hash computed here. Returns where
 * its batch id and change time (8 bytes each) were written, for rows built ahead.
 */
function writeRow(
  out: BinaryCopy,
  batchId: number,
  columns: { source: Buffer; entity: Buffer },
  key: string,
  time: number | bigint | null,
  isDeleted: boolean,
  payload: Buffer | string | null,
  raw: string | null,
): { batchAt: number; timeAt: number } {
  const hashed = payload ?? raw ?? '';
  out.row(9);
  const batchAt = out.size + 4;
  out.int64(batchId);
  out.bytes(columns.source);
  out.bytes(columns.entity);
  out.text(key);
  const timeAt = time === null ? -1 : out.size + 4;
  if (time === null) out.null();
  else out.int64(time);
  out.bool(isDeleted);
  if (payload === null) out.null();
  else out.jsonb(payload);
  if (raw === null) out.null();
  else out.text(raw);
  out.latin1(md5(isDeleted ? Buffer.concat([toBytes(hashed), DELETED]) : hashed));
  return { batchAt, timeAt };
}

/**
 * A batch built while a file is read: each record is hashed and written into the COPY data
 * as soon as it is scanned, so nothing of the file is held but the data itself. The batch id
 * and the change times only the server can read are filled in when the batch lands.
 */
export class PreparedRows {
  private readonly out: BinaryCopy;
  private readonly columns: { source: Buffer; entity: Buffer };
  private readonly batchAt: number[] = [];
  private readonly serverTimes: { at: number; text: string }[] = [];

  constructor(target: BatchTarget, expectedBytes: number) {
    this.out = new BinaryCopy(expectedBytes);
    this.columns = { source: Buffer.from(target.source), entity: Buffer.from(target.entity) };
  }

  get length(): number {
    return this.batchAt.length;
  }

  /** COPY data built so far. */
  get bytes(): number {
    return this.out.size;
  }

  /** A record: its key, change time (as toTimestamp gives it), deletion flag and compact JSON bytes. */
  add(key: string, updatedAt: string | null, isDeleted: boolean, payload: Buffer): void {
    const micros = updatedAt === null ? null : zonedMicros(updatedAt);
    const at = writeRow(this.out, 0, this.columns, key, updatedAt === null ? null : (micros ?? 0), isDeleted, withoutNul(payload), null);
    this.batchAt.push(at.batchAt);
    if (updatedAt !== null && micros === null) this.serverTimes.push({ at: at.timeAt, text: updatedAt });
  }

  /** The COPY data, with the batch id and the server's reading of the times left. */
  async complete(client: pg.PoolClient, batchId: number): Promise<Buffer> {
    for (const at of this.batchAt) this.out.setInt64(at, batchId);
    const times = await serverMicros(client, new Set(this.serverTimes.map((t) => t.text)));
    for (const { at, text } of this.serverTimes) this.out.setInt64(at, times.get(text)!);
    return this.out.finish();
  }
}

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
    return jsonForPostgres(JSON.parse(bytes.toString('utf8')));
  } catch {
    return bytes;
  }
}

/** The md5 digest's 16 bytes as a latin1 string (the fastest form node returns): staging.record.payload_hash. */
const md5: (data: string | Buffer) => string =
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
