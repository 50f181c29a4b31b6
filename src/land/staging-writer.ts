import crypto from 'node:crypto';
import type pg from 'pg';
import { inTransaction } from '../db/connection.js';
import { copyField, copyInto } from '../db/copy.js';
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
 * Lands one batch in staging.record with COPY, in one transaction. The same (source,
 * entity, key, payload hash) twice is one row: a batch of new versions is copied straight
 * into staging.record; if any of it was landed before, the copy is undone and the batch
 * goes through a temporary table and `on conflict do nothing`. `alsoInTransaction` runs
 * before commit — loaders store their position there (file progress, Kafka offsets,
 * MySQL watermark) so it can never run ahead of the data.
 */
export async function landBatch(
  pool: pg.Pool,
  target: BatchTarget,
  records: readonly SourceRecord[],
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
export async function landBatchIn(client: pg.PoolClient, target: BatchTarget, records: readonly SourceRecord[]): Promise<LandedBatch> {
  const lines = copyLines(records);
  const { rows } = await client.query<{ batch_id: string }>(
    `insert into staging.batch (source, entity, origin, rows_received, rows_landed)
     values ($1, $2, $3, $4, 0) returning batch_id`,
    [target.source, target.entity, target.origin, records.length],
  );
  const batchId = Number(rows[0]!.batch_id);
  const prefix = `${batchId}\t${copyField(target.source)}\t${target.entity}\t`;
  let landed: number;
  await client.query('savepoint straight_copy');
  try {
    await copyInto(client, `copy staging.record (${RECORD_COLUMNS}) from stdin`, prefixed(prefix, lines));
    landed = records.length;
  } catch (e) {
    if ((e as { code?: string }).code !== UNIQUE_VIOLATION) throw e;
    await client.query('rollback to savepoint straight_copy');
    landed = await landNewOnly(client, prefix, lines);
  }
  await client.query('release savepoint straight_copy');
  const batch: LandedBatch = { batchId, received: records.length, landed };
  if (landed === 0) {
    // Everything was already there: leave no empty batch behind.
    await client.query('delete from staging.batch where batch_id = $1', [batchId]);
    batch.batchId = null;
  } else {
    await client.query('update staging.batch set rows_landed = $2 where batch_id = $1', [batchId, landed]);
  }
  return batch;
}

async function landNewOnly(client: pg.PoolClient, prefix: string, lines: string[]): Promise<number> {
  // one transaction may land several batches (a Kafka fetch holds companies and contacts)
  await client.query(`drop table if exists pg_temp.landing`);
  await client.query(`create temp table landing on commit drop as select ${RECORD_COLUMNS} from staging.record with no data`);
  await copyInto(client, `copy landing (${RECORD_COLUMNS}) from stdin`, prefixed(prefix, lines));
  const inserted = await client.query(
    `insert into staging.record (${RECORD_COLUMNS})
     select ${RECORD_COLUMNS} from landing
     on conflict (source, entity, source_key, payload_hash) do nothing`,
  );
  return inserted.rowCount ?? 0;
}

function* prefixed(prefix: string, lines: string[]): Generator<string> {
  for (const line of lines) yield prefix + line;
}

/** COPY text-format lines without the batch, source and entity columns. */
function copyLines(records: readonly SourceRecord[]): string[] {
  return records.map((record) => {
    const payload = record.payload === undefined ? null
      : record.payloadText !== undefined && !record.payloadText.includes('\\u0000') ? record.payloadText
      : jsonForPostgres(record.payload);
    const raw = payload === null ? (record.rawText ?? '') : null;
    const hash = md5Hex((payload ?? raw ?? '') + (record.isDeleted ? ':deleted' : ''));
    return copyField(record.sourceKey) + '\t' +
      copyField(record.updatedAt) + '\t' +
      (record.isDeleted ? 't' : 'f') + '\t' +
      copyField(payload) + '\t' +
      copyField(raw) + '\t' +
      hash + '\n';
  });
}

const md5Hex: (text: string) => string =
  typeof (crypto as { hash?: unknown }).hash === 'function'
    ? (text) => (crypto as unknown as { hash: (a: string, t: string) => string }).hash('md5', text)
    : (text) => crypto.createHash('md5').update(text).digest('hex');

/**
 * The payload as compact JSON, so the same record sent pretty-printed or compact has one
 * hash. jsonb cannot hold U+0000; such characters are dropped rather than failing the batch.
 */
function jsonForPostgres(value: unknown): string {
  const text = JSON.stringify(value);
  if (!text.includes('\\u0000')) return text;
  return JSON.stringify(value, (_key, v: unknown) => (typeof v === 'string' ? v.replaceAll('\u0000', '') : v));
}
