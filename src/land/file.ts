import crypto from 'node:crypto';
import { basename, resolve } from 'node:path';
import type pg from 'pg';
import type { RecordFields } from '../config.js';
import { ChangeTimeReader, UNREADABLE } from './change-time.js';
import { describeFile, InputError, utf8Characters, inputError, readRange, scanFile, type FileIdentity, type FileReadOptions, type ReadCounter } from './file-reader.js';
import { landedRanges, type FileKey } from './file-progress.js';
import { compactJson, jsonProblem, type RecordVisitor, type RecordFields as ScannedFields } from './json-element-scanner.js';
import { Progress, formatBytes, formatCount } from './progress.js';
import { entityPlural, keyMissing, keylessKey, updatedUnparseable, type Entity, type LandingIssue } from './record.js';
import { assertMappedSource } from './sources.js';
import { describePolicy, LandingPipeline, TooManyBadRecords, type BadRecordPolicy } from './pipeline.js';
import { RecordBatch, refusalText, type RefusalError } from './staging-writer.js';

export interface LandFileOptions extends FileReadOptions {
  source: string;
  entity: Entity;
  fields: RecordFields;
  /** Continue after the last batch this file landed. */
  resume?: boolean;
  batchSize?: number;
  /**
   * Records the server refuses (not valid JSON for PostgreSQL) that may be landed raw and
   * rejected `unparseable` while the load goes on; one more stops it. 0: the first stops it.
   */
  maxErrors?: number;
  /** The bad-record policy (the source's maxBadRecords); over maxErrors when given. */
  badRecords?: BadRecordPolicy;
  quiet?: boolean;
}

export interface LandFileResult {
  records: number;
  skipped: number;
  landed: number;
  /** Records landed raw because the server refused them (at most maxErrors). */
  refused: number;
  batches: number;
  seconds: number;
}

/**
 * Lands a JSON or NDJSON file in staging, batch by batch. Each batch and the file's
 * progress commit together, so after a crash or malformed input --resume continues after
 * the last committed batch — once it has checked that the file still starts with the records
 * landed; landing is idempotent, so a rerun from the start lands nothing twice.
 */
export async function landFile(pool: pg.Pool, options: LandFileOptions): Promise<LandFileResult> {
  const path = resolve(options.path);
  const identity = describeFile(path);
  await assertMappedSource(pool, options.source, options.entity);
  if (options.encoding === 'cp1251') {
    const wide = await utf8Characters({ ...options, path });
    if (wide > 0) {
      throw new InputError(path, 1, 0, `the file is UTF-8 (its first 64 KiB hold ${formatCount(wide)} non-ASCII characters, all well-formed UTF-8); ` +
        'read as Windows-1251 its Cyrillic text would land garbled', { advice: 'nothing was landed; land it without --encoding cp1251 (or set the source\'s encoding to utf8)' });
    }
  }
  const batchSize = options.batchSize ?? 5_000;
  const policy: BadRecordPolicy = options.badRecords ?? { max: options.maxErrors ?? 0, setting: '--max-errors' };
  const maxErrors = policy.max;
  const label = `${options.source} ${basename(path)}`;
  const progress = new Progress(label, identity.size, process.stderr, options.quiet);
  const counter: ReadCounter = { bytes: 0 };
  const file: FileKey = { source: options.source, entity: options.entity, path };
  const resumeAt = options.resume ? await resumePoint(pool, file, identity) : { skip: 0, digest: null };
  const skip = resumeAt.skip;
  await startLoad(pool, file, identity, options.resume ?? false);

  let recordNo = 0;
  let landed = 0;
  let refused = 0;
  let batches = 0;
  let firstPending = skip + 1;
  const target = { source: options.source, entity: options.entity, origin: path };
  let rows: RecordBatch | null = null; // the batch being built
  let located: Located = { offsets: [], lengths: [] };
  let lastBatchBytes = 1 << 20;
  // the records in file order, for the progress digest a later --resume checks
  const prefix = crypto.createHash('md5');
  const ready: { rows: RecordBatch; located: Located; range: Range }[] = [];
  // Two batches are written at once while the next is read: reading and COPY overlap,
  // and the server uses both cores. Progress rows make --resume safe in any commit order.
  const pipeline = new LandingPipeline(pool, { badRecords: policy, inFlight: WRITERS });
  let failure: unknown = null;
  const fail = (e: unknown) => {
    // batches finish out of order: the problem nearest the file's start is the one to fix
    if (failure === null || (e instanceof InputError && failure instanceof InputError && e.record < failure.record)) failure = e;
  };
  const close = () => {
    if (!rows) return;
    lastBatchBytes = rows.bytes;
    prefix.update(rows.hashes());
    const digest = prefix.copy().digest('hex');
    if (recordNo <= skip) {
      // records --resume skips: only their digest is wanted
      if (recordNo === skip && digest !== resumeAt.digest && resumeAt.digest !== null) fail(notTheSameFile(path, skip));
      rows.release();
    } else {
      ready.push({ rows, located, range: { first: firstPending, last: recordNo, bytes: counter.bytes, digest } });
    }
    rows = null;
    located = { offsets: [], lengths: [] };
    firstPending = recordNo + 1;
  };
  const locate = (range: Range, where: Located) => (tuple: number) =>
    `record ${formatCount(range.first + tuple - 1)} at byte ${formatCount(where.offsets[tuple - 1]!)}`;
  const flush = async () => {
    for (let next = ready.shift(); next; next = ready.shift()) {
      const { rows: batch, located: where, range } = next;
      // reading waits while the pipeline is full: memory holds at most its batches in flight
      await pipeline.ready();
      if (failure) {
        batch.release();
        continue;
      }
      // each batch stores its own range of the file's progress: batches commit in any order
      pipeline.land({
        lane: `${path}@${range.first}`,
        batches: [{ target, rows: batch, locate: locate(range, where) }],
        position: (client) => saveProgress(client, file, range),
        committed: ([result]) => {
          landed += result!.landed;
          refused += result!.refused;
          batches += 1;
          progress.update(range.last, range.bytes);
        },
        explain: async (e) => {
          const cause = e instanceof TooManyBadRecords && e.cause ? e.cause : e;
          const explained = await refusedRecord(cause, { ...options, path }, range.first, where, policy);
          return explained === cause ? e : explained;
        },
      }).catch(fail);
      if (failure) throw failure;
    }
  };

  const reader = new RecordReader(options.fields, options.source, options.entity);
  const visit: RecordVisitor = (buf, start, end, offset, fields) => {
    recordNo += 1;
    rows ??= new RecordBatch(target, lastBatchBytes);
    reader.add(rows, buf, start, end, fields);
    located.offsets.push(offset);
    located.lengths.push(end - start);
    // the skipped records end where the landed batches ended, so the digest can be compared
    if (rows.length >= batchSize || recordNo === skip) close();
  };
  try {
    for await (const _ of scanFile({ ...options, path }, counter, reader.wanted, visit)) {
      if (failure) break;
      await flush();
    }
    if (!failure) {
      close();
      await flush();
    }
  } catch (e) {
    fail(e);
  }
  await pipeline.finish();
  if (!failure && recordNo < skip) failure = notTheSameFile(path, skip, recordNo);
  if (failure) throw await explainFailure(pool, file, failure, batches);
  await pool.query(
    `update etl.file_load set completed_at = now(), records = $4
     where source = $1 and entity = $2 and file_path = $3`,
    [file.source, file.entity, path, recordNo],
  );
  const result = { records: recordNo, skipped: Math.min(skip, recordNo), landed, refused, batches, seconds: progress.elapsedSeconds() };
  progress.done(
    `${formatCount(result.records)} records read` +
      (result.skipped ? ` (${formatCount(result.skipped)} skipped by --resume)` : '') +
      `, ${formatCount(landed)} new versions landed in ${batches} batches` +
      (refused ? `, ${formatCount(refused)} refused by PostgreSQL landed raw and rejected unparseable (${describePolicy(policy)})` : '') +
      `, ${result.seconds.toFixed(1)}s, peak memory ${formatBytes(process.resourceUsage().maxRSS * 1024)}`,
  );
  return result;
}

const WRITERS = 2;

interface Range {
  first: number;
  last: number;
  bytes: number;
  /** md5 over the payload hashes of records 1 to last. */
  digest: string;
}

/** Where each record of a batch sits in the (decompressed, UTF-8) file. */
interface Located {
  offsets: number[];
  lengths: number[];
}

/**
 * Turns a scanned record into a batch row: its key from the key field's JSON text (a number
 * digit for digit; no key, an empty one or one that is not text or a number lands keyed by
 * its content and rejected key_missing), its change time as the source's settings allow
 * (anything else: no time and a warning), and its deletion flag.
 */
class RecordReader {
  readonly wanted: string[];
  private readonly times: ChangeTimeReader;
  private readonly setting: string;

  constructor(private readonly fields: RecordFields, source: string, entity: Entity) {
    this.wanted = [fields.key, fields.updated, ...(fields.deleted ? [fields.deleted] : [])];
    this.times = new ChangeTimeReader({ format: fields.updatedFormat ?? 'iso', timezone: fields.timezone ?? '+00:00' });
    this.setting = `sources.${source}.${entityPlural(entity)}`;
  }

  add(rows: RecordBatch, buf: Buffer, start: number, end: number, fields: ScannedFields): void {
    const bytes = buf.subarray(start, end);
    const payload = fields.spaced ? compactJson(bytes) : bytes;
    let issues: LandingIssue[] | undefined;
    const keyToken = fieldText(buf, fields, 0);
    let key = keyToken === undefined ? null : keyOf(keyToken);
    if (key === null) {
      const value = keyToken === undefined ? undefined : safeParse(keyToken);
      issues = [keyMissing(this.fields.key, `${this.setting}.key`, buf[start] === OPEN_OBJECT ? value : undefined)];
      key = keylessKey(payload);
    }
    if (buf[start] !== OPEN_OBJECT) return rows.add(key, null, false, payload, issues);
    const timeToken = fieldText(buf, fields, 1);
    const timeValue = timeToken === undefined ? undefined : safeParse(timeToken);
    let time = this.times.read(timeValue);
    if (time === UNREADABLE) {
      (issues ??= []).push(updatedUnparseable(this.fields.updated, timeValue, `${this.setting}.updatedFormat ${this.times.settings.format}, timezone ${this.times.settings.timezone}`));
      time = null;
    }
    const deleted = fields.starts.length > 2 ? fieldText(buf, fields, 2) : undefined;
    rows.add(key, time, deleted === 'true', payload, issues);
  }
}

const OPEN_OBJECT = 123;
const QUOTE = 34;
const BACKSLASH = 92;

/** A top-level scalar field's JSON text; undefined when there is none (absent, or an object or array). */
function fieldText(buf: Buffer, fields: ScannedFields, f: number): string | undefined {
  const start = fields.starts[f]!;
  return start < 0 ? undefined : buf.toString('utf8', start, fields.ends[f]);
}

/** The key in a field's JSON text: a string's text, a number's digits as written; null for anything else or blank. */
function keyOf(token: string): string | null {
  const first = token.charCodeAt(0);
  if (first === QUOTE) {
    const text = token.includes('\\') ? (safeParse(token) as string | undefined) : token.slice(1, -1);
    return text === undefined || text.trim() === '' ? null : text;
  }
  return first === 45 || (first >= 48 && first <= 57) ? token : null;
}

function safeParse(token: string): unknown {
  try {
    return JSON.parse(token);
  } catch {
    return token;
  }
}

/**
 * A batch the server refused because of one record's data (not JSON, not UTF-8, a character
 * jsonb cannot hold, nesting past its stack): the record, named by number and byte offset like
 * any malformed input. COPY names the refused tuple; tuple n of a batch is its n-th record,
 * read again from the file.
 */
async function refusedRecord(e: unknown, options: FileReadOptions, first: number, located: Located, policy: BadRecordPolicy): Promise<unknown> {
  const error = e as RefusalError;
  const line = Number(/(?:^|\n)COPY \w+, line (\d+)/.exec(error.where ?? '')?.[1] ?? 0);
  if (!(error.code?.startsWith('22') || error.code === '54001') || line < 1 || line > located.offsets.length) return e;
  const offset = located.offsets[line - 1]!;
  const bytes = await readRange(options, offset, located.lengths[line - 1]!);
  const limit = policy.max > 0 ? ` — more than ${describePolicy(policy)} records refused` : ` — ${describePolicy(policy)}: none may land raw`;
  const bad = error.code === CHARACTER_NOT_IN_REPERTOIRE ? invalidUtf8At(bytes) : -1;
  if (bad >= 0) {
    const hint = options.encoding === 'utf8' ? ' (if the file is Windows-1251, land it with --encoding cp1251)' : '';
    return inputError(options, first + line - 1, offset + bad, `not valid UTF-8${hint}${limit}`);
  }
  const problem = jsonProblem(bytes, offset);
  const said = error.code === STACK_DEPTH ? 'nested too deep for PostgreSQL to parse (stack depth limit exceeded)' : refusalText(error);
  return inputError(options, first + line - 1, problem?.offset ?? offset, `${problem?.message ?? said}${limit}`);
}

const CHARACTER_NOT_IN_REPERTOIRE = '22021';
const STACK_DEPTH = '54001';

/** Index of the first byte that is not valid UTF-8, or -1. */
function invalidUtf8At(bytes: Buffer): number {
  const again = Buffer.from(bytes.toString('utf8'));
  for (let i = 0; i < bytes.length; i++) if (bytes[i] !== again[i]) return i;
  return -1;
}

/**
 * The error for the user: malformed input with exactly what is in staging — the records of
 * every batch that committed, which with batches written in parallel may lie past the
 * failing one — and what to do.
 */
async function explainFailure(pool: pg.Pool, file: FileKey, failure: unknown, batches: number): Promise<unknown> {
  if (!(failure instanceof InputError)) return failure;
  const ranges = await landedRanges(pool, file);
  const safe = ranges[0]?.first === 1 ? ranges[0].last : 0;
  const later = ranges.filter((r) => r.first > safe + 1);
  const landed = safe > 0 ? `Records 1 to ${formatCount(safe)} are landed` : 'No record of this file is landed';
  const beyond = later.length > 0
    ? `, and also ${later.map((r) => `${formatCount(r.first)} to ${formatCount(r.last)}`).join(', ')} (batches written in parallel that committed before the stop)`
    : '';
  let what = failure.advice;
  if (failure.resumable) {
    what = safe > 0 ? `fix the file and rerun with --resume to continue after record ${formatCount(safe)} (nothing is landed twice)` : 'fix the file and run again';
  }
  return failure.withOutcome(`${landed}${beyond} (${batches} batches this run); ${what}.`);
}

/** --resume of a file that is not the one whose records were landed. */
function notTheSameFile(path: string, skip: number, records?: number): InputError {
  const problem = records !== undefined
    ? `the file has only ${formatCount(records)} records, fewer than the ${formatCount(skip)} landed from it before`
    : `the file does not start with the ${formatCount(skip)} records landed from it before (replaced by another export?)`;
  return new InputError(path, Math.min(records ?? skip, skip) || 1, 0, problem, {
    advice: 'run again without --resume to land it from the start (landing skips what is already there)',
  });
}

/** How far --resume may skip: the committed prefix, checked against the file it was landed from. */
async function resumePoint(pool: pg.Pool, file: FileKey, identity: FileIdentity): Promise<{ skip: number; digest: string | null }> {
  const ranges = await landedRanges(pool, file);
  const prefix = ranges[0]?.first === 1 ? ranges[0] : null;
  if (!prefix) return { skip: 0, digest: null };
  if (prefix.digest !== null) return { skip: prefix.last, digest: prefix.digest };
  // landed before progress digests were kept: the file's size, time and head must not have changed
  const { rows } = await pool.query<{ file_size: string | null; file_modified_at: Date | null; head_md5: string | null }>(
    `select file_size, file_modified_at, head_md5 from etl.file_load where source = $1 and entity = $2 and file_path = $3`,
    [file.source, file.entity, file.path]);
  const before = rows[0];
  const same = before && Number(before.file_size) === identity.size && before.file_modified_at?.getTime() === identity.modifiedAt.getTime() && before.head_md5 === identity.headMd5;
  if (!same) throw notTheSameFile(file.path, prefix.last);
  return { skip: prefix.last, digest: null };
}

/** A run from the start forgets the old progress; a resumed run keeps it. */
async function startLoad(pool: pg.Pool, file: FileKey, identity: FileIdentity, resume: boolean): Promise<void> {
  if (!resume) {
    await pool.query('delete from etl.file_progress where source = $1 and entity = $2 and file_path = $3', [file.source, file.entity, file.path]);
  }
  await pool.query(
    `insert into etl.file_load (source, entity, file_path, file_size, file_modified_at, head_md5) values ($1, $2, $3, $4, $5, $6)
     on conflict (source, entity, file_path) do update set file_size = excluded.file_size, file_modified_at = excluded.file_modified_at,
       head_md5 = excluded.head_md5, started_at = now(), completed_at = null`,
    [file.source, file.entity, file.path, identity.size, identity.modifiedAt, identity.headMd5],
  );
}

async function saveProgress(client: pg.PoolClient, file: FileKey, range: Range) {
  await client.query(
    `insert into etl.file_progress (source, entity, file_path, first_record, last_record, byte_offset, prefix_digest)
     values ($1, $2, $3, $4, $5, $6, $7)
     on conflict (source, entity, file_path, first_record) do update set
       last_record = excluded.last_record, byte_offset = excluded.byte_offset, prefix_digest = excluded.prefix_digest, landed_at = now()`,
    [file.source, file.entity, file.path, range.first, range.last, range.bytes, range.digest],
  );
}
