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

/**
 * Lands one batch in staging.record with COPY, in one transaction: COPY into a temporary
 * table, then insert what is new. The same (source, entity, key, payload hash) twice is
 * one row. `alsoInTransaction` runs before commit — loaders store their position there
 * (file progress, Kafka offsets, MySQL watermark) so it can never run ahead of the data.
 */
export async function landBatch(
  pool: pg.Pool,
  target: BatchTarget,
  records: readonly SourceRecord[],
  alsoInTransaction?: (client: pg.PoolClient, batch: LandedBatch) => Promise<void>,
): Promise<LandedBatch> {
  return inTransaction(pool, async (client) => {
    const { rows } = await client.query<{ batch_id: string }>(
      `insert into staging.batch (source, entity, origin, rows_received, rows_landed)
       values ($1, $2, $3, $4, 0) returning batch_id`,
      [target.source, target.entity, target.origin, records.length],
    );
    const batchId = Number(rows[0]!.batch_id);
    await client.query(
      `create temp table landing (
         source_key text, source_updated_at timestamptz, is_deleted boolean, payload jsonb, raw_text text
       ) on commit drop`,
    );
    await copyInto(client, 'copy landing (source_key, source_updated_at, is_deleted, payload, raw_text) from stdin', copyLines(records));
    const inserted = await client.query(
      `insert into staging.record (batch_id, source, entity, source_key, source_updated_at, is_deleted, payload, raw_text, payload_hash)
       select $1, $2, $3, source_key, source_updated_at, is_deleted, payload, raw_text,
              md5(coalesce(payload::text, raw_text, '') || case when is_deleted then ':deleted' else '' end)::uuid
       from landing
       on conflict (source, entity, source_key, payload_hash) do nothing`,
      [batchId, target.source, target.entity],
    );
    const landed = inserted.rowCount ?? 0;
    const batch: LandedBatch = { batchId, received: records.length, landed };
    if (landed === 0) {
      // Everything was already there: leave no empty batch behind.
      await client.query('delete from staging.batch where batch_id = $1', [batchId]);
      batch.batchId = null;
    } else {
      await client.query('update staging.batch set rows_landed = $2 where batch_id = $1', [batchId, landed]);
    }
    await alsoInTransaction?.(client, batch);
    return batch;
  });
}

/** COPY text-format lines of the landing table. */
function* copyLines(records: readonly SourceRecord[]): Generator<string> {
  for (const record of records) {
    const payload = record.payload === undefined ? null : jsonForPostgres(record.payload);
    yield copyField(record.sourceKey) + '\t' +
      copyField(record.updatedAt) + '\t' +
      (record.isDeleted ? 't' : 'f') + '\t' +
      copyField(payload) + '\t' +
      copyField(payload === null ? (record.rawText ?? null) : null) + '\n';
  }
}

/** jsonb cannot hold U+0000; such characters are dropped rather than failing the batch. */
function jsonForPostgres(value: unknown): string {
  const text = JSON.stringify(value);
  if (!text.includes('\\u0000')) return text;
  return JSON.stringify(value, (_key, v: unknown) => (typeof v === 'string' ? v.replaceAll('\u0000', '') : v));
}
