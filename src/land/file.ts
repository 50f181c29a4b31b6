import { basename, resolve } from 'node:path';
import type pg from 'pg';
import type { RecordFields } from '../config.js';
import { fileSize, InputError, readRecords, type FileReadOptions, type ReadCounter } from './file-reader.js';
import { Progress, formatCount } from './progress.js';
import { toTimestamp, type Entity, type SourceRecord } from './record.js';
import { landBatch } from './staging-writer.js';

export interface LandFileOptions extends FileReadOptions {
  source: string;
  entity: Entity;
  fields: RecordFields;
  /** Continue after the last batch this file landed. */
  resume?: boolean;
  batchSize?: number;
  quiet?: boolean;
}

export interface LandFileResult {
  records: number;
  skipped: number;
  landed: number;
  batches: number;
  seconds: number;
}

/**
 * Lands a JSON or NDJSON file in staging, batch by batch. Each batch and the file's
 * progress commit together, so after a crash or malformed input --resume continues after
 * the last committed batch; landing is idempotent, so a rerun from the start lands nothing twice.
 */
export async function landFile(pool: pg.Pool, options: LandFileOptions): Promise<LandFileResult> {
  const path = resolve(options.path);
  const batchSize = options.batchSize ?? 5000;
  const size = fileSize(path);
  const label = `${options.source} ${basename(path)}`;
  const progress = new Progress(label, size, process.stderr, options.quiet);
  const counter: ReadCounter = { bytes: 0 };
  const skip = options.resume ? await landedSoFar(pool, options, path) : 0;

  let recordNo = 0;
  let landed = 0;
  let batches = 0;
  let pending: SourceRecord[] = [];
  const flush = async () => {
    if (pending.length === 0) return;
    const batch = await landBatch(pool, { source: options.source, entity: options.entity, origin: path }, pending, (client) =>
      saveProgress(client, options, path, recordNo, counter.bytes, size),
    );
    landed += batch.landed;
    batches += 1;
    pending = [];
  };

  try {
    for await (const value of readRecords({ ...options, path }, counter)) {
      recordNo += 1;
      if (recordNo <= skip) continue;
      pending.push(toSourceRecord(value, options.fields, `${basename(path)}#${recordNo}`));
      if (pending.length >= batchSize) {
        await flush();
        progress.update(recordNo, counter.bytes);
      }
    }
    await flush();
  } catch (e) {
    if (e instanceof InputError) {
      throw new Error(
        `${e.message}. ${formatCount(recordNo - pending.length)} records before it are landed` +
          ` (${batches} batches this run); fix the file and rerun with --resume to continue after them.`,
      );
    }
    throw e;
  }
  await pool.query(
    `update etl.file_progress set completed_at = now(), updated_at = now()
     where source = $1 and entity = $2 and file_path = $3`,
    [options.source, options.entity, path],
  );
  const result = { records: recordNo, skipped: Math.min(skip, recordNo), landed, batches, seconds: progress.elapsedSeconds() };
  progress.done(
    `${formatCount(result.records)} records read` +
      (result.skipped ? ` (${formatCount(result.skipped)} skipped by --resume)` : '') +
      `, ${formatCount(landed)} new versions landed in ${batches} batches, ${result.seconds.toFixed(1)}s`,
  );
  return result;
}

function toSourceRecord(value: unknown, fields: RecordFields, fallbackKey: string): SourceRecord {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { sourceKey: fallbackKey, updatedAt: null, isDeleted: false, payload: value };
  }
  const record = value as Record<string, unknown>;
  const key = record[fields.key];
  return {
    sourceKey: typeof key === 'string' || typeof key === 'number' ? String(key) : fallbackKey,
    updatedAt: toTimestamp(record[fields.updated]),
    isDeleted: fields.deleted ? record[fields.deleted] === true : false,
    payload: value,
  };
}

async function landedSoFar(pool: pg.Pool, options: LandFileOptions, path: string): Promise<number> {
  const { rows } = await pool.query<{ records_landed: string }>(
    'select records_landed from etl.file_progress where source = $1 and entity = $2 and file_path = $3',
    [options.source, options.entity, path],
  );
  return Number(rows[0]?.records_landed ?? 0);
}

async function saveProgress(client: pg.PoolClient, options: LandFileOptions, path: string, records: number, bytes: number, size: number) {
  await client.query(
    `insert into etl.file_progress (source, entity, file_path, records_landed, byte_offset, file_size, completed_at, updated_at)
     values ($1, $2, $3, $4, $5, $6, null, now())
     on conflict (source, entity, file_path) do update set
       records_landed = excluded.records_landed, byte_offset = excluded.byte_offset,
       file_size = excluded.file_size, completed_at = null, updated_at = now()`,
    [options.source, options.entity, path, records, bytes, size],
  );
}
