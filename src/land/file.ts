import { basename, resolve } from 'node:path';
import type pg from 'pg';
import type { RecordFields } from '../config.js';
import { heldBytes, holdHeapUnder } from './heap.js';
import { fileSize, InputError, inputError, readRange, scanFile, type FileReadOptions, type ReadCounter } from './file-reader.js';
import { compactJson, jsonProblem, type RecordVisitor, type RecordFields as ScannedFields } from './json-element-scanner.js';
import { Progress, formatBytes, formatCount } from './progress.js';
import { toTimestamp, type Entity } from './record.js';
import { landBatch, PreparedRows } from './staging-writer.js';

export interface LandFileOptions extends FileReadOptions {
  source: string;
  entity: Entity;
  fields: RecordFields;
  /** Continue after the last batch this file landed. */
  resume?: boolean;
  batchSize?: number;
  quiet?: boolean;
  /** Records the server refuses that may be landed raw and rejected before the load stops (default 0). */
  maxErrors?: number;
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
  let firstPending = skip + 1;
  const target = { source: options.source, entity: options.entity, origin: path };
  let rows: PreparedRows | null = null; // the batch being built
  let located: Located = { offsets: [], lengths: [] };
  let lastBatchBytes = 1 << 20;
  const ready: { rows: PreparedRows; located: Located; range: { first: number; last: number; bytes: number } }[] = [];
  // Two batches are written at once while the next is read: reading and COPY overlap,
  // and the server uses both cores. Progress rows make --resume safe in any commit order.
  const inFlight = new Set<Promise<void>>();
  // what the process held before this load is not the loader's to collect
  const heapBase = heldBytes();
  let failure: unknown = null;
  const fail = (e: unknown) => {
    // batches finish out of order: the problem nearest the file's start is the one to fix
    if (failure === null || (e instanceof InputError && failure instanceof InputError && e.record < failure.record)) failure = e;
  };
  const close = () => {
    if (!rows) return;
    lastBatchBytes = rows.bytes;
    ready.push({ rows, located, range: { first: firstPending, last: recordNo, bytes: counter.bytes } });
    rows = null;
    located = { offsets: [], lengths: [] };
    firstPending = recordNo + 1;
  };
  const flush = async () => {
    for (let next = ready.shift(); next; next = ready.shift()) {
      const { rows: batch, located: where, range } = next;
      while (inFlight.size >= WRITERS) await Promise.race(inFlight);
      if (failure) throw failure;
      const write: Promise<void> = landBatch(pool, target, batch, (client) => saveProgress(client, file, range)).then(
        (result) => {
          landed += result.landed;
          batches += 1;
          progress.update(range.last, range.bytes);
          holdHeapUnder(heapBase + HEAP_BUDGET);
        },
        async (e: unknown) => fail(await refusedRecord(e, { ...options, path }, range.first, where)),
      ).finally(() => inFlight.delete(write));
      inFlight.add(write);
    }
  };

  const wanted = [options.fields.key, options.fields.updated, ...(options.fields.deleted ? [options.fields.deleted] : [])];
  const fallbackKey = () => `${basename(path)}#${recordNo}`;
  const visit: RecordVisitor = (buf, start, end, offset, fields) => {
    recordNo += 1;
    if (recordNo <= skip) return;
    rows ??= new PreparedRows(target, Math.ceil(lastBatchBytes * 1.1)); // room to grow without copying
    addRecord(rows, buf, start, end, fields, fallbackKey);
    located.offsets.push(offset);
    located.lengths.push(end - start);
    if (rows.length >= batchSize) close();
  };
  try {
    for await (const _ of scanFile({ ...options, path }, counter, wanted, visit)) await flush();
    close();
    await flush();
  } catch (e) {
    fail(e);
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
/** Heap and buffers the loader may add over what the process held before (its live data is a few batches). */
const HEAP_BUDGET = 48 * 2 ** 20;

interface FileKey {
  source: string;
  entity: Entity;
  path: string;
}

/** Where each record of a batch sits in the (decompressed, UTF-8) file. */
interface Located {
  offsets: number[];
  lengths: number[];
}

/**
 * A batch the server refused because of one record's data (not JSON, not UTF-8, a character
 * jsonb cannot hold): the record, named by number and byte offset like any malformed input.
 * COPY names the refused tuple; tuple n of a batch is its n-th record, read again from the file.
 */
async function refusedRecord(e: unknown, options: FileReadOptions, first: number, located: Located): Promise<unknown> {
  const error = e as { code?: string; where?: string; message?: string };
  const line = Number(/(?:^|\n)COPY \w+, line (\d+)/.exec(error.where ?? '')?.[1] ?? 0);
  if (!error.code?.startsWith('22') || line < 1 || line > located.offsets.length) return e;
  const offset = located.offsets[line - 1]!;
  const bytes = await readRange(options, offset, located.lengths[line - 1]!);
  const bad = error.code === CHARACTER_NOT_IN_REPERTOIRE ? invalidUtf8At(bytes) : -1;
  if (bad >= 0) {
    const hint = options.encoding === 'utf8' ? ' (if the file is Windows-1251, land it with --encoding cp1251)' : '';
    return inputError(options, first + line - 1, offset + bad, `not valid UTF-8${hint}`);
  }
  const problem = jsonProblem(bytes, offset);
  return inputError(options, first + line - 1, problem?.offset ?? offset, problem?.message ?? error.message ?? 'refused by the server');
}

const CHARACTER_NOT_IN_REPERTOIRE = '22021';

/** Index of the first byte that is not valid UTF-8, or -1. */
function invalidUtf8At(bytes: Buffer): number {
  const again = Buffer.from(bytes.toString('utf8'));
  for (let i = 0; i < bytes.length; i++) if (bytes[i] !== again[i]) return i;
  return -1;
}

/** A scanned record into the batch: its key, change time and deletion flag read from its fields. */
function addRecord(rows: PreparedRows, buf: Buffer, start: number, end: number, fields: ScannedFields, fallbackKey: () => string): void {
  const bytes = buf.subarray(start, end);
  const payload = fields.spaced ? compactJson(bytes) : bytes;
  if (buf[start] !== OPEN_OBJECT) return rows.add(fallbackKey(), null, false, payload);
  const key = fieldValue(buf, fields, 0);
  const deleted = fields.starts.length > 2 ? fieldValue(buf, fields, 2) : undefined;
  rows.add(typeof key === 'string' || typeof key === 'number' ? String(key) : fallbackKey(), toTimestamp(fieldValue(buf, fields, 1)), deleted === true, payload);
}

const OPEN_OBJECT = 123;

/** A scalar field's value from its JSON text; undefined when there is none or it does not parse. */
function fieldValue(buf: Buffer, fields: ScannedFields, f: number): unknown {
  const start = fields.starts[f]!;
  if (start < 0) return undefined;
  const end = fields.ends[f]!;
  if (buf[start] === QUOTE && !hasBackslash(buf, start, end)) return buf.toString('utf8', start + 1, end - 1);
  try {
    return JSON.parse(buf.toString('utf8', start, end)) as unknown;
  } catch {
    return undefined;
  }
}

function hasBackslash(buf: Buffer, start: number, end: number): boolean {
  for (let i = start; i < end; i++) if (buf[i] === BACKSLASH) return true;
  return false;
}

const QUOTE = 34;
const BACKSLASH = 92;

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
