import mysql from 'mysql2/promise';
import type pg from 'pg';
import type { MysqlSourceConfig, MysqlTableConfig } from '../config.js';
import { copyInto, copyField } from '../db/copy.js';
import { inTransaction } from '../db/connection.js';
import { ChangeTimeReader, isoMicros, UNREADABLE } from './change-time.js';
import { Progress, formatCount } from './progress.js';
import { entityPlural, keyMissing, keylessKey, keyText, updatedUnparseable, type Entity, type LandingIssue, type SourceRecord } from './record.js';
import { assertMappedSource } from './sources.js';
import { describeServer } from '../secrets.js';
import { LandingPipeline, TooManyBadRecords, type BadRecordPolicy } from './pipeline.js';
import { landBatch, RecordBatch } from './staging-writer.js';

export interface LandMysqlOptions {
  url: string;
  source: string;
  config: MysqlSourceConfig;
  /** Read every row (in one consistent snapshot) instead of from the watermark. */
  full?: boolean;
  /** Start an incremental sync at this time instead of the watermark. */
  since?: string;
  /** Compare primary keys and mark records the source no longer has as deleted. */
  reconcileDeletes?: boolean;
  /** Mark them deleted even when more than half of a table's live records would go (an empty or wrong replica looks like that). */
  forceDeletes?: boolean;
  /** What to do with rows that cannot land as they are (default: land raw and reject them, never stop). */
  badRecords?: BadRecordPolicy;
  /** Stops the sync after the pages in flight have landed (a worker's SIGTERM); the next run goes on from the watermark. */
  signal?: AbortSignal;
  quiet?: boolean;
  log?: (line: string) => void;
}

export interface TableResult {
  table: string;
  entity: Entity;
  rows: number;
  landed: number;
  batches: number;
  deleted: number;
  /** Rows the server refused as they were, landed raw and rejected unparseable. */
  refused: number;
  /** Rows without a usable change time (NULL or a zero date) or key, read again by every run. */
  undated: number;
  watermark: { updatedAt: string; id: number } | null;
  /** The sync was stopped (its signal) before the table was read to its end. */
  stopped?: boolean;
  /** How long the table took, its reconciliation included. */
  seconds: number;
}

export interface LandMysqlResult {
  tables: TableResult[];
  seconds: number;
}

/** A failure talking to MySQL, with what was landed before it. */
export class MysqlLoadError extends Error {}

const ENTITIES: Array<[Entity, 'companies' | 'contacts' | 'orders']> = [['company', 'companies'], ['contact', 'contacts'], ['order', 'orders']];

/**
 * Lands store A's tables from MySQL. Every table is read in one consistent snapshot
 * (read-only transaction), in keyset pages ordered by (updated_at, id), one page at a time
 * so memory does not grow with the table; the next page is read while the last one is
 * COPYed. Each page commits with the new watermark in the same PostgreSQL transaction.
 * An incremental run starts `lagSeconds` before the watermark, so rows sharing the
 * boundary second or committed late with an older timestamp are read again; landing
 * idempotency keeps what was already there once.
 */
export async function landMysql(pool: pg.Pool, o: LandMysqlOptions): Promise<LandMysqlResult> {
  const started = Date.now();
  const log = o.log ?? (() => {});
  const where = describeServer(o.url, 3306);
  for (const [entity] of ENTITIES.slice(0, 2)) await assertMappedSource(pool, o.source, entity);
  let connection: mysql.Connection;
  try {
    connection = await mysql.createConnection({
      uri: o.url,
      dateStrings: true,
      supportBigNumbers: true,
      bigNumberStrings: true,
      charset: 'UTF8MB4_UNICODE_CI',
      connectTimeout: 10_000,
    });
  } catch (e) {
    throw new MysqlLoadError(`cannot connect to MySQL at ${where} (MYSQL_URL): ${(e as Error).message}`);
  }
  connection.on('error', () => {}); // surfaced through the query that fails
  const tables: TableResult[] = [];
  // one pipeline for the sync: its bad-record policy counts over both tables
  const pipeline = new LandingPipeline(pool, { badRecords: o.badRecords ?? { max: Infinity, setting: `sources.${o.source}.maxBadRecords` } });
  try {
    await connection.query('SET time_zone = ?', [o.config.timezone]);
    await connection.query('SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ');
    await connection.query('START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY');
    for (const [entity, name] of ENTITIES) {
      if (o.signal?.aborted) break;
      const table = o.config[name];
      // a replica without orders is a store without orders, unless the configuration names them
      if (entity === 'order') {
        if (!o.config.ordersRequired && !(await tableExists(connection, table.table))) {
          log(`${o.source}: no table ${table.table} in the source database, no orders to land`);
          continue;
        }
        await assertMappedSource(pool, o.source, entity);
      }
      const result = await landTable(pool, pipeline, connection, o, entity, table, where, log);
      tables.push(result);
    }
    await connection.query('COMMIT');
  } finally {
    await connection.end().catch(() => connection.destroy());
  }
  return { tables, seconds: (Date.now() - started) / 1000 };
}

async function landTable(
  pool: pg.Pool,
  pipeline: LandingPipeline,
  connection: mysql.Connection,
  o: LandMysqlOptions,
  entity: Entity,
  table: MysqlTableConfig,
  where: string,
  log: (line: string) => void,
): Promise<TableResult> {
  let t = table;
  const position = await readPosition(pool, o.source, entity, o.config.lagSeconds);
  let from: string | null = null;
  if (o.since) from = sinceTimestamp(o.since);
  else if (!o.full && position) from = position.lagStart;
  const mode = o.full || (!position && !o.since) ? 'full load' : `from ${from}`;
  if (!o.full && !position && !o.since) log(`${o.source} ${t.table}: no watermark yet, reading the whole table`);

  const q = (name: string) => connection.escapeId(name);
  let select = `SELECT ${await selectList(connection, t.table, o.config.textEncoding)} FROM ${q(t.table)}`;
  const items = entity === 'order' ? await itemReader(connection, o, t) : null;
  if (items) {
    // An order changes when one of its lines does: its change time is the latest of its own and
    // its lines' since `from`, and the keyset walks that time. The lines changed before `from`
    // were landed with their order by an earlier sync. An order with a line that has no usable
    // change time has none either: it is read again by every sync, as an undated row is.
    const i = o.config.orderItems;
    const since = connection.escape(from ?? MIN_DATETIME);
    const undatedLine = `EXISTS (SELECT 1 FROM ${q(i.table)} u WHERE u.${q(i.orderKey)} = o.${q(t.key)} AND DAYNAME(u.${q(i.updated)}) IS NULL)`;
    select = `SELECT * FROM (SELECT ${await selectList(connection, t.table, o.config.textEncoding, 'o')}, ` +
      `CASE WHEN ${undatedLine} THEN NULL ELSE GREATEST(o.${q(t.updated)}, COALESCE(ch.items_at, o.${q(t.updated)})) END AS ${q(CHANGED_AT)} ` +
      `FROM ${q(t.table)} o LEFT JOIN (SELECT ${q(i.orderKey)} AS order_key, MAX(${q(i.updated)}) AS items_at FROM ${q(i.table)} ` +
      `WHERE ${q(i.updated)} >= ${since} GROUP BY ${q(i.orderKey)}) ch ON ch.order_key = o.${q(t.key)} ` +
      `WHERE o.${q(t.updated)} >= ${since} OR ch.order_key IS NOT NULL OR DAYNAME(o.${q(t.updated)}) IS NULL OR ${undatedLine}) AS orders`;
    t = { ...t, updated: CHANGED_AT };
  }
  // Rows with no usable change time (NULL, a zero date as sql_mode='' writes it, a date with a
  // zero month or day: DAYNAME() is NULL for all of them) have no place in the (updated_at, id)
  // order: the dated pass leaves them out, and every run reads them all again by key in a pass
  // of their own (a scan of the table: no index finds them), so an incremental sync never
  // misses one; landing keeps only what changed. Rows whose key is NULL (a key column that
  // allows it) cannot be paged by key at all: they are read in one piece, each rejected key_missing.
  const key = q(t.key);
  const hasKey = `${key} IS NOT NULL`;
  const dated = `${q(t.updated)} >= '${MIN_DATETIME}' AND DAYNAME(${q(t.updated)}) IS NOT NULL`;
  const undated = `DAYNAME(${q(t.updated)}) IS NULL`;
  const order = `ORDER BY ${q(t.updated)}, ${key} LIMIT ${o.config.batchSize}`;
  const passes: Pass[] = [
    {
      name: 'dated',
      first: from === null
        ? { sql: `${select} WHERE ${dated} AND ${hasKey} ${order}`, values: [] }
        : { sql: `${select} WHERE ${q(t.updated)} >= ? AND ${dated} AND ${hasKey} ${order}`, values: [from] },
      next: (last) => ({
        sql: `${select} WHERE (${q(t.updated)} > ? OR (${q(t.updated)} = ? AND ${key} > ?)) AND ${dated} AND ${hasKey} ${order}`,
        values: [last[t.updated], last[t.updated], last[t.key]],
      }),
    },
    {
      name: 'undated',
      first: { sql: `${select} WHERE ${undated} AND ${hasKey} ORDER BY ${key} LIMIT ${o.config.batchSize}`, values: [] },
      next: (last) => ({ sql: `${select} WHERE ${undated} AND ${key} > ? ORDER BY ${key} LIMIT ${o.config.batchSize}`, values: [last[t.key]] }),
    },
    { name: 'keyless', first: { sql: `${select} WHERE ${key} IS NULL`, values: [] }, next: null },
  ];

  const label = `${o.source} ${t.table} (${mode})`;
  const estimate = mode === 'full load' ? await estimateRows(connection, t.table) : null;
  const progress = new Progress(label, estimate, process.stderr, o.quiet, 'rows');
  const result: TableResult = { table: t.table, entity, rows: 0, landed: 0, batches: 0, deleted: 0, refused: 0, undated: 0, watermark: position?.at ?? null, seconds: 0 };
  const tableStarted = Date.now();
  const reader = new RowReader(o.source, entity, t, o.config.timezone);
  for (const pass of passes) {
    if (o.signal?.aborted) break;
    await landPass(pipeline, connection, o, entity, t, where, pass, reader, result, progress, items);
  }
  if (o.signal?.aborted) {
    result.stopped = true;
    result.seconds = (Date.now() - tableStarted) / 1000;
    progress.done(`stopped after ${formatCount(result.rows)} rows (${formatCount(result.landed)} new versions); the watermark is at ${describeMark(result)}, the next sync goes on from there`);
    return result;
  }
  if (o.full || !position) {
    await pool.query(`update etl.mysql_position set full_load_at = now() where source = $1 and entity = $2`, [o.source, entity]);
  }
  if (o.reconcileDeletes) result.deleted = await reconcileDeletes(pool, connection, o, entity, table, where, result);
  result.seconds = (Date.now() - tableStarted) / 1000;
  progress.done(
    `${formatCount(result.rows)} rows read (${formatCount(result.undated)} without a change time or a key, read again every run), ` +
    `${formatCount(result.landed)} new versions in ${result.batches} batches` +
    (result.refused ? `, ${formatCount(result.refused)} rows refused by PostgreSQL landed raw and rejected unparseable` : '') +
    (o.reconcileDeletes ? `, ${formatCount(result.deleted)} gone from the source marked deleted` : '') +
    `, ${formatCount(Math.round(result.rows / Math.max(progress.elapsedSeconds(), 0.001)))} rows/s; ` +
    `watermark ${result.watermark ? `${result.watermark.updatedAt} id ${result.watermark.id}` : 'none (no dated row)'}`,
  );
  return result;
}

/** The column the orders' pages are walked by: the latest change of the order and its lines. */
const CHANGED_AT = '_changed_at';

/** Reads the lines of a page of orders and puts them inside each order (`items`, in line order). */
interface ItemReader {
  attach(orders: Row[]): Promise<void>;
}

async function itemReader(connection: mysql.Connection, o: LandMysqlOptions, orders: MysqlTableConfig): Promise<ItemReader> {
  const i = o.config.orderItems;
  if (!(await tableExists(connection, i.table))) {
    throw new MysqlLoadError(`${o.source}: the source database has orders (${orders.table}) but no table ${i.table} for their lines ` +
      `(sources.${o.source}.mysql.orderItems.table)`);
  }
  const select = `SELECT ${await selectList(connection, i.table, o.config.textEncoding)} FROM ${connection.escapeId(i.table)}`;
  const times = new RowReader(o.source, 'order', { table: i.table, key: i.orderKey, updated: i.updated }, o.config.timezone);
  return {
    async attach(rows) {
      for (const row of rows) row.items = [];
      const keys = rows.map((row) => row[orders.key]).filter((k) => k !== null && k !== undefined);
      if (keys.length === 0) return;
      const byOrder = new Map(rows.map((row) => [String(row[orders.key]), row]));
      const [lines, fields] = await connection.query(`${select} WHERE ${connection.escapeId(i.orderKey)} IN (?) ORDER BY ${connection.escapeId(i.orderKey)}, 1`, [keys]);
      times.columns(fields as Array<{ name: string; columnType: number }>);
      for (const line of lines as Row[]) {
        times.convertTimes(line);
        (byOrder.get(String(line[i.orderKey]))?.items as Row[] | undefined)?.push(line);
      }
    },
  };
}

async function tableExists(connection: mysql.Connection, table: string): Promise<boolean> {
  const [rows] = await connection.query('SELECT 1 FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = ?', [table]);
  return (rows as unknown[]).length > 0;
}

/** The earliest DATETIME MySQL stores as a real day; below it are zero dates. */
const MIN_DATETIME = '1000-01-01 00:00:00';

type Row = Record<string, unknown>;

/** One keyset walk over a table: its first page and the page after a row (null: one page holds all). */
interface Pass {
  name: 'dated' | 'undated' | 'keyless';
  first: { sql: string; values: unknown[] };
  next: ((last: Row) => { sql: string; values: unknown[] }) | null;
}

/**
 * Reads a pass page by page and hands each page to the landing pipeline, which writes it with
 * the watermark in one transaction; the next page is read while the last one is COPYed, and
 * the pipeline's commits stay in order per table, so the watermark never passes a batch that
 * is not committed. Only the dated pass moves it.
 */
async function landPass(
  pipeline: LandingPipeline,
  connection: mysql.Connection,
  o: LandMysqlOptions,
  entity: Entity,
  t: MysqlTableConfig,
  where: string,
  pass: Pass,
  reader: RowReader,
  result: TableResult,
  progress: Progress,
  items: ItemReader | null,
): Promise<void> {
  const read = async (page: { sql: string; values: unknown[] }) => {
    const [rows, fields] = await connection.query(page.sql, page.values);
    reader.columns(fields as Array<{ name: string; columnType: number }>);
    // an order's lines, read in the same snapshot as the order, go inside it
    if (items) await items.attach(rows as Row[]);
    return rows as Row[];
  };
  let lastKey: unknown = null;
  // a failed read is reported once the batches before it have landed, so the message
  // states the watermark as it really is
  const awaitPage = async (page: Promise<Row[]>) => {
    try {
      return await page;
    } catch (e) {
      await pipeline.finish().catch(() => {});
      throw lostConnection(e, where, o.source, t.table, result, lastKey);
    }
  };
  const target = { source: o.source, entity, origin: `mysql:${t.table}` };

  let rows = await awaitPage(read(pass.first));
  while (rows.length > 0) {
    const last = rows[rows.length - 1]!;
    lastKey = last[t.key];
    // read the next page while this one is landed
    const next = pass.next && rows.length === o.config.batchSize ? read(pass.next(last)) : Promise.resolve([]);
    next.catch(() => {}); // awaited below; a failure must not go unhandled meanwhile
    const page = reader.page(rows);
    if (items) for (const record of page.records) delete (record.payload as Row)[CHANGED_AT];
    const mark = pass.name === 'dated' ? page.mark : null;
    const keys = `${t.key} ${String(rows[0]![t.key])} to ${String(lastKey)}`;
    const count = page.records.length;
    await pipeline.write({
      lane: t.table,
      batches: [{ target, rows: RecordBatch.of(target, page.records), locate: (tuple) => `${t.table} row with ${t.key} ${String(rows[tuple - 1]?.[t.key])}` }],
      position: mark ? (client) => savePosition(client, o.source, entity, t.table, mark, count) : undefined,
      committed: ([batch]) => {
        result.rows += count;
        result.landed += batch!.landed;
        result.refused += batch!.refused;
        result.batches += 1;
        if (pass.name !== 'dated') result.undated += count;
        if (mark && (!result.watermark || mark.updatedAt > result.watermark.updatedAt ||
            (mark.updatedAt === result.watermark.updatedAt && mark.id > result.watermark.id))) result.watermark = { updatedAt: mark.updatedAt, id: mark.id };
        progress.update(result.rows, result.rows);
      },
      explain: (e) => e instanceof TooManyBadRecords ? e : new MysqlLoadError(`${o.source} ${t.table}: landing the rows with ${keys} failed: ${(e as Error).message}; ` +
        `the pages before them are landed and the watermark stays at ${describeMark(result)}; run again to continue`),
    });
    if (o.signal?.aborted) {
      next.catch(() => {});
      break;
    }
    rows = await awaitPage(next);
  }
  await pipeline.finish();
}

/**
 * Table rows as staging records: column names as keys, datetimes as ISO-8601 with the
 * source's offset and zero dates as null (the row object is reused as the payload); the
 * key as text (a NULL or empty key lands keyed by the row's content, rejected key_missing);
 * the change time read in the source's zone (a zero date: none; a date that is no day, such
 * as 2024-02-30 or 2024-00-10: none, with a warning).
 */
class RowReader {
  private datetimes: string[] | null = null;
  private dates: string[] = [];
  private readonly times: ChangeTimeReader;
  private readonly setting: string;

  constructor(source: string, entity: Entity, private readonly t: MysqlTableConfig, private readonly timezone: string) {
    this.times = new ChangeTimeReader({ format: 'iso', timezone });
    this.setting = `sources.${source}.mysql.${entityPlural(entity)}`;
  }

  columns(fields: Array<{ name: string; columnType: number }>): void {
    this.datetimes ??= fields.filter((f) => DATETIME_TYPES.has(f.columnType)).map((f) => f.name);
    this.dates = fields.filter((f) => DATE_TYPES.has(f.columnType)).map((f) => f.name);
  }

  /** Datetimes as ISO-8601 with the source's offset, zero dates as null (in place). */
  convertTimes(row: Row): void {
    for (const column of this.datetimes!) {
      const value = row[column];
      if (typeof value === 'string') row[column] = isZeroDate(value) ? null : `${value.replace(' ', 'T')}${this.timezone}`;
    }
    for (const column of this.dates) {
      if (typeof row[column] === 'string' && isZeroDate(row[column] as string)) row[column] = null;
    }
  }

  /** A page's records, and the watermark its last dated row sets (null when it has none). */
  page(rows: Row[]): { records: SourceRecord[]; mark: Mark | null } {
    let mark: Mark | null = null;
    const records = rows.map((row) => {
      const updated = row[this.t.updated];
      const record = this.record(row);
      if (record.updatedAt !== null && typeof updated === 'string') mark = { updatedAt: updated, id: numericKey(record.sourceKey), key: record.sourceKey };
      return record;
    });
    return { records, mark };
  }

  private record(row: Row): SourceRecord {
    const updated = row[this.t.updated];
    const issues: LandingIssue[] = [];
    let updatedAt: SourceRecord['updatedAt'] = null;
    if (typeof updated === 'string' && !isZeroDate(updated)) {
      const time = this.times.read(updated);
      if (time === UNREADABLE) issues.push(updatedUnparseable(this.t.updated, updated, `${this.setting}.updated, timezone ${this.timezone}`));
      else updatedAt = time;
    }
    this.convertTimes(row);
    let key = keyText(typeof row[this.t.key] === 'number' || typeof row[this.t.key] === 'string' ? String(row[this.t.key]) : row[this.t.key]);
    if (key === null) {
      issues.push(keyMissing(this.t.key, `${this.setting}.key`, row[this.t.key] ?? null));
      key = keylessKey(JSON.stringify(row));
    }
    return { sourceKey: key, updatedAt, isDeleted: false, payload: row, issues: issues.length > 0 ? issues : undefined };
  }
}

/** The watermark a page sets: its last dated row's change time (as MySQL wrote it) and key. */
interface Mark {
  updatedAt: string;
  /** The key as a number, 0 when it is not one (the key text is kept beside it). */
  id: number;
  key: string;
}

function numericKey(key: string): number {
  return /^-?\d{1,15}$/.test(key) ? Number(key) : 0;
}

// mysql2 column types TIMESTAMP and DATETIME (dateStrings keeps them as the source text), DATE and NEWDATE
const DATETIME_TYPES = new Set([7, 12]);
const DATE_TYPES = new Set([10, 14]);

/** MySQL's zero date: '0000-00-00' with or without a time (any year-month-day of zeros). */
function isZeroDate(value: string): boolean {
  return value.startsWith('0000-00-00');
}

/**
 * The table's columns, text columns read as the source says their bytes are: with
 * textEncoding cp1251, a latin1 column holding Windows-1251 bytes is converted by the
 * server (CONVERT(BINARY col USING cp1251)), so the rows arrive as proper UTF-8 and the
 * decoding runs on the MySQL side, not in the loader's one thread.
 */
async function selectList(connection: mysql.Connection, table: string, encoding: 'utf8' | 'cp1251', alias?: string): Promise<string> {
  const [rows] = await connection.query(
    `SELECT column_name AS name, character_set_name AS charset FROM information_schema.columns
     WHERE table_schema = DATABASE() AND table_name = ? ORDER BY ordinal_position`, [table]);
  const columns = rows as Array<{ name: string; charset: string | null }>;
  if (columns.length === 0) throw new MysqlLoadError(`table ${table} does not exist in the source database`);
  return columns.map(({ name, charset }) => {
    const id = connection.escapeId(name);
    const column = alias ? `${alias}.${id}` : id;
    return encoding === 'cp1251' && charset !== null && charset !== 'utf8mb4' && charset !== 'utf8mb3' && charset !== 'utf8'
      ? `CONVERT(CAST(${column} AS BINARY) USING cp1251) AS ${id}`
      : alias ? `${column} AS ${id}` : id;
  }).join(', ');
}

interface Position {
  at: { updatedAt: string; id: number };
  lagStart: string;
}

async function readPosition(pool: pg.Pool, source: string, entity: Entity, lagSeconds: number): Promise<Position | null> {
  const { rows } = await pool.query<{ updated_at: string; last_id: string; lag_start: string }>(
    `select to_char(updated_at, 'YYYY-MM-DD HH24:MI:SS') as updated_at, last_id,
            to_char(updated_at - make_interval(secs => $3), 'YYYY-MM-DD HH24:MI:SS') as lag_start
     from etl.mysql_position where source = $1 and entity = $2`,
    [source, entity, lagSeconds],
  );
  const row = rows[0];
  return row ? { at: { updatedAt: row.updated_at, id: Number(row.last_id) }, lagStart: row.lag_start } : null;
}

/** The watermark only moves forward in (updated_at, id) order: a re-read overlap never moves it back. */
async function savePosition(client: pg.PoolClient, source: string, entity: Entity, table: string, at: Mark, rows: number): Promise<void> {
  await client.query(
    `insert into etl.mysql_position as p (source, entity, source_table, updated_at, last_id, last_key, rows_landed)
     values ($1, $2, $3, $4::timestamp, $5, $6, $7)
     on conflict (source, entity) do update set
       updated_at = case when (excluded.updated_at, excluded.last_id, excluded.last_key) > (p.updated_at, p.last_id, coalesce(p.last_key, '')) then excluded.updated_at else p.updated_at end,
       last_id = case when (excluded.updated_at, excluded.last_id, excluded.last_key) > (p.updated_at, p.last_id, coalesce(p.last_key, '')) then excluded.last_id else p.last_id end,
       last_key = case when (excluded.updated_at, excluded.last_id, excluded.last_key) > (p.updated_at, p.last_id, coalesce(p.last_key, '')) then excluded.last_key else p.last_key end,
       source_table = excluded.source_table,
       rows_landed = p.rows_landed + excluded.rows_landed,
       updated = now()`,
    [source, entity, table, at.updatedAt, at.id, at.key, rows],
  );
}

/**
 * Marks as deleted every record whose current version is live in staging but whose key
 * the table no longer has: the table's keys, read from the same snapshot in one query
 * (keys only, a few MB for millions of rows), are COPYed into a temporary table, and one
 * deletion version per missing key is landed.
 */
async function reconcileDeletes(
  pool: pg.Pool,
  connection: mysql.Connection,
  o: LandMysqlOptions,
  entity: Entity,
  t: MysqlTableConfig,
  where: string,
  result: TableResult,
): Promise<number> {
  let keys: string[];
  try {
    const [rows] = await connection.query({ sql: `SELECT ${connection.escapeId(t.key)} FROM ${connection.escapeId(t.table)}`, rowsAsArray: true });
    keys = (rows as unknown[][]).map((r) => String(r[0]));
  } catch (e) {
    throw lostConnection(e, where, o.source, t.table, result);
  }
  const gone = await inTransaction(pool, async (client) => {
    await client.query(`create temp table source_key (source_key text collate "C" primary key) on commit drop`);
    await copyInto(client, 'copy source_key from stdin', (function* () {
      for (let i = 0; i < keys.length; i += 10_000) yield keys.slice(i, i + 10_000).map((k) => `${copyField(k)}\n`).join('');
    })());
    // the current version of each record as the transform picks it; keyless records have no key to compare
    const { rows } = await client.query<{ source_key: string; gone: boolean }>(
      `select c.source_key, not exists (select from source_key k where k.source_key = c.source_key) as gone
       from staging.current_version c
       where c.source = $1 and c.entity = $2 and c.source_key not like '#nokey:%' and not c.is_deleted
       order by 1`,
      [o.source, entity],
    );
    return { live: rows.length, gone: rows.filter((r) => r.gone).map((r) => r.source_key) };
  });
  const { live } = gone;
  if (gone.gone.length === 0) return 0;
  // an empty table, or one that lost more than half its rows since the last sync, is far likelier a wrong replica than deletions
  if ((keys.length === 0 || (gone.gone.length > live / 2 && gone.gone.length > 10)) && !o.forceDeletes) {
    throw new MysqlLoadError(`${o.source} ${t.table}: --reconcile-deletes would mark ${formatCount(gone.gone.length)} of ${formatCount(live)} live records deleted ` +
      `(the table has ${formatCount(keys.length)} rows): that looks like an empty or wrong replica at ${where}, not deletions. ` +
      'Nothing was marked deleted; if they really are gone, run again with --force-deletes');
  }
  return landDeletions(pool, o, entity, t, gone.gone);
}

/** One deletion version per key, landed in batches. */
async function landDeletions(pool: pg.Pool, o: LandMysqlOptions, entity: Entity, t: MysqlTableConfig, gone: string[]): Promise<number> {
  const now = new Date().toISOString();
  const nowMicros = isoMicros(now);
  const records: SourceRecord[] = gone.map((key) => ({ sourceKey: key, updatedAt: nowMicros, isDeleted: true, payload: { [t.key]: key, deleted_at: now } }));
  let landed = 0;
  for (let i = 0; i < records.length; i += o.config.batchSize) {
    const batch = await landBatch(pool, { source: o.source, entity, origin: `mysql:${t.table}:reconcile` }, records.slice(i, i + o.config.batchSize));
    landed += batch.landed;
  }
  return landed;
}

async function estimateRows(connection: mysql.Connection, table: string): Promise<number | null> {
  const [rows] = await connection.query(
    'SELECT table_rows AS n FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = ?', [table]);
  const n = Number((rows as Array<{ n: unknown }>)[0]?.n);
  return Number.isFinite(n) && n > 0 ? n : null;
}

function lostConnection(e: unknown, where: string, source: string, table: string, r: TableResult, lastKey: unknown = null): Error {
  const error = e as { code?: string; message?: string; fatal?: boolean };
  const lost = error.fatal === true || /closed state/.test(error.message ?? '') ||
    ['PROTOCOL_CONNECTION_LOST', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT'].includes(error.code ?? '');
  const what = lost ? `lost the connection to MySQL at ${where}` : `MySQL at ${where} failed`;
  const detail = error.code ? `${error.code}: ${error.message}` : error.message ?? String(e);
  const after = lastKey === null ? '' : ` after the row with key ${String(lastKey)}`;
  return new MysqlLoadError(
    `${what} while reading ${source} ${table}${after} (${detail}); ` +
    `${formatCount(r.rows)} rows in ${r.batches} batches were landed and the watermark stays at ${describeMark(r)}; run again to continue`,
  );
}

function describeMark(r: TableResult): string {
  return r.watermark ? `updated_at ${r.watermark.updatedAt}, id ${r.watermark.id}` : 'where it was before this run';
}

/** --since DATE or timestamp as the source's DATETIME text. */
function sinceTimestamp(since: string): string {
  const match = /^(\d{4}-\d{2}-\d{2})(?:[T ](\d{2}:\d{2}(?::\d{2})?))?$/.exec(since);
  if (!match) throw new MysqlLoadError(`--since '${since}' is not a date (YYYY-MM-DD or YYYY-MM-DD HH:MM:SS)`);
  const time = match[2] ?? '00:00:00';
  return `${match[1]} ${time.length === 5 ? `${time}:00` : time}`;
}
