import { basename, resolve } from 'node:path';
import type pg from 'pg';
import type { RecordFields } from '../config.js';
import { holdHeapUnder } from './heap.js';
import { fileSize, InputError, readRecords, type FileReadOptions, type ReadCounter } from './file-reader.js';
import { Progress, formatBytes, formatCount } from './progress.js';
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
  const batchSize = options.batchSize ?? 10_000;
  const size = fileSize(path);
  const label = `${options.source} ${basename(path)}`;
  const progress = new Progress(label, size, process.stderr, options.quiet);
  const counter: ReadCounter = { bytes: 0 };
  const file = { source: options.source, entity: options.entity, path };
  const skip = options.resume ? await landedSoFar(pool, file) : 0;
  await startLoad(pool, file, size, options.resume ?? false);

  let recordNo = 0;
  let landed = 0;
  let batches = 0;
  let pending: SourceRecord[] = [];
  let firstPending = skip + 1;
  // Two batches are written at once while the next is read: reading and COPY overlap,
  // and the server uses both cores. Progress rows make --resume safe in any commit order.
  const inFlight = new Set<Promise<void>>();
  // what the process held before this load is not the loader's to collect
  const heapBase = process.memoryUsage().heapUsed;
  let failure: unknown = null;
  const flush = async () => {
    if (pending.length === 0) return;
    const records = pending;
    const range = { first: firstPending, last: recordNo, bytes: counter.bytes };
    pending = [];
    firstPending = recordNo + 1;
    while (inFlight.size >= WRITERS) await Promise.race(inFlight);
    if (failure) throw failure;
    const write: Promise<void> = landBatch(pool, { source: options.source, entity: options.entity, origin: path }, records, (client) =>
      saveProgress(client, file, range),
    ).then(
      (batch) => {
        landed += batch.landed;
        batches += 1;
        progress.update(range.last, range.bytes);
        holdHeapUnder(heapBase + HEAP_BUDGET);
      },
      (e: unknown) => {
        failure ??= e;
      },
    ).finally(() => inFlight.delete(write));
    inFlight.add(write);
  };

  try {
    for await (const value of readRecords({ ...options, path }, counter)) {
      recordNo += 1;
      if (recordNo <= skip) continue;
      pending.push(toSourceRecord(value, options.fields, `${basename(path)}#${recordNo}`));
      if (pending.length >= batchSize) await flush();
    }
    await flush();
  } catch (e) {
    failure ??= e;
  }
  await Promise.all(inFlight);
  if (failure) {
    if (failure instanceof InputError) {
      const safe = await landedSoFar(pool, file);
      throw new Error(
        `${failure.message}. Records 1 to ${formatCount(safe)} are landed (${batches} batches this run); ` +
          `fix the file and rerun with --resume to continue after record ${formatCount(safe)}.`,
      );
    }
    throw failure;
  }
  await pool.query(
    `update etl.file_load set completed_at = now(), records = $4
     where source = $1 and entity = $2 and file_path = $3`,
    [file.source, file.entity, path, recordNo],
  );
  const result = { records: recordNo, skipped: Math.min(skip, recordNo), landed, batches, seconds: progress.elapsedSeconds() };
  progress.done(
    `${formatCount(result.records)} records read` +
      (result.skipped ? ` (${formatCount(result.skipped)} skipped by --resume)` : '') +
      `, ${formatCount(landed)} new versions landed in ${batches} batches, ${result.seconds.toFixed(1)}s` +
      `, peak memory ${formatBytes(process.resourceUsage().maxRSS * 1024)}`,
  );
  return result;
}

const WRITERS = 2;
/** Heap the loader may add over what the process held before (its live data is a few batches). */
const HEAP_BUDGET = 48 * 2 ** 20;

interface FileKey {
  source: string;
  entity: Entity;
  path: string;
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

/** The last record before the first gap in the committed batches of this file. */
async function landedSoFar(pool: pg.Pool, file: FileKey): Promise<number> {
  const { rows } = await pool.query<{ first_record: string; last_record: string }>(
    `select first_record, last_record from etl.file_progress
     where source = $1 and entity = $2 and file_path = $3 order by first_record`,
    [file.source, file.entity, file.path],
  );
  let prefix = 0;
  for (const row of rows) {
    if (Number(row.first_record) > prefix + 1) break;
    prefix = Math.max(prefix, Number(row.last_record));
  }
  return prefix;
}

/** A run from the start forgets the old progress; a resumed run keeps it. */
async function startLoad(pool: pg.Pool, file: FileKey, size: number, resume: boolean): Promise<void> {
  if (!resume) {
    await pool.query('delete from etl.file_progress where source = $1 and entity = $2 and file_path = $3', [file.source, file.entity, file.path]);
  }
  await pool.query(
    `insert into etl.file_load (source, entity, file_path, file_size) values ($1, $2, $3, $4)
     on conflict (source, entity, file_path) do update set file_size = excluded.file_size, started_at = now(), completed_at = null`,
    [file.source, file.entity, file.path, size],
  );
}

async function saveProgress(client: pg.PoolClient, file: FileKey, range: { first: number; last: number; bytes: number }) {
  await client.query(
    `insert into etl.file_progress (source, entity, file_path, first_record, last_record, byte_offset)
     values ($1, $2, $3, $4, $5, $6)
     on conflict (source, entity, file_path, first_record) do update set
       last_record = excluded.last_record, byte_offset = excluded.byte_offset, landed_at = now()`,
    [file.source, file.entity, file.path, range.first, range.last, range.bytes],
  );
}
