import mysql from 'mysql2/promise';
import type pg from 'pg';
import type { MysqlSourceConfig, MysqlTableConfig } from '../config.js';
import { copyInto, copyField } from '../db/copy.js';
import { inTransaction } from '../db/connection.js';
import { Progress, formatCount } from './progress.js';
import type { Entity, SourceRecord } from './record.js';
import { landBatch } from './staging-writer.js';

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
  watermark: { updatedAt: string; id: number } | null;
}

export interface LandMysqlResult {
  tables: TableResult[];
  seconds: number;
}

/** A failure talking to MySQL, with what was landed before it. */
export class MysqlLoadError extends Error {}

const ENTITIES: Array<[Entity, 'companies' | 'contacts']> = [['company', 'companies'], ['contact', 'contacts']];

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
  const where = describeServer(o.url);
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
  try {
    await connection.query('SET time_zone = ?', [o.config.timezone]);
    await connection.query('SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ');
    await connection.query('START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY');
    for (const [entity, name] of ENTITIES) {
      const table = o.config[name];
      const result = await landTable(pool, connection, o, entity, table, where, log);
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
  connection: mysql.Connection,
  o: LandMysqlOptions,
  entity: Entity,
  t: MysqlTableConfig,
  where: string,
  log: (line: string) => void,
): Promise<TableResult> {
  const position = await readPosition(pool, o.source, entity, o.config.lagSeconds);
  let from: string | null = null;
  if (o.since) from = sinceTimestamp(o.since);
  else if (!o.full && position) from = position.lagStart;
  const mode = o.full || (!position && !o.since) ? 'full load' : `from ${from}`;
  if (!o.full && !position && !o.since) log(`${o.source} ${t.table}: no watermark yet, reading the whole table`);

  const q = (name: string) => connection.escapeId(name);
  const select = `SELECT ${await selectList(connection, t.table, o.config.textEncoding)} FROM ${q(t.table)}`;
  const order = `ORDER BY ${q(t.updated)}, ${q(t.key)} LIMIT ${o.config.batchSize}`;
  const firstPage = from === null
    ? { sql: `${select} ${order}`, values: [] as unknown[] }
    : { sql: `${select} WHERE ${q(t.updated)} >= ? ${order}`, values: [from] as unknown[] };
  const nextPage = (after: { updatedAt: string; id: number }) => ({
    sql: `${select} WHERE ${q(t.updated)} > ? OR (${q(t.updated)} = ? AND ${q(t.key)} > ?) ${order}`,
    values: [after.updatedAt, after.updatedAt, after.id],
  });

  const label = `${o.source} ${t.table} (${mode})`;
  const estimate = mode === 'full load' ? await estimateRows(connection, t.table) : null;
  const progress = new Progress(label, estimate, process.stderr, o.quiet, 'rows');
  const result: TableResult = { table: t.table, entity, rows: 0, landed: 0, batches: 0, deleted: 0, watermark: position?.at ?? null };
  const read = async (page: { sql: string; values: unknown[] }) => {
    const [rows, fields] = await connection.query(page.sql, page.values);
    datetimeColumns ??= (fields as Array<{ name: string; columnType: number }>).filter((f) => DATETIME_TYPES.has(f.columnType)).map((f) => f.name);
    return rows as Array<Record<string, unknown>>;
  };
  let datetimeColumns: string[] | null = null;
  // Two batches are landed at once: the next one's COPY runs while the one before commits.
  // Commits stay in order (each waits for the one before it inside its transaction), so
  // the watermark never passes a batch that is not committed.
  let previous: Promise<void> | null = null;
  const settle = async () => {
    const p = previous;
    previous = null;
    await p;
  };
  // a failed read is reported once the batches before it have landed, so the message
  // states the watermark as it really is
  const awaitPage = async (page: Promise<Array<Record<string, unknown>>>) => {
    try {
      return await page;
    } catch (e) {
      await settle().catch(() => {});
      throw lostConnection(e, where, o.source, t.table, result);
    }
  };

  let rows = await awaitPage(read(firstPage));
  while (rows.length > 0) {
    const last = rows[rows.length - 1]!;
    const after = { updatedAt: String(last[t.updated]), id: Number(last[t.key]) };
    // read the next page while this one is landed
    const next = rows.length === o.config.batchSize ? read(nextPage(after)) : Promise.resolve([]);
    next.catch(() => {}); // awaited below; a failure must not go unhandled meanwhile
    const records = rows.map((row) => toRecord(row, t, datetimeColumns!, o.config.timezone));
    const before = previous;
    const current = landBatch(pool, { source: o.source, entity, origin: `mysql:${t.table}` }, records, async (client) => {
      await before;
      await savePosition(client, o.source, entity, t.table, after, records.length);
    }).then((batch) => {
      result.rows += records.length;
      result.landed += batch.landed;
      result.batches += 1;
      if (!result.watermark || after.updatedAt > result.watermark.updatedAt ||
          (after.updatedAt === result.watermark.updatedAt && after.id > result.watermark.id)) result.watermark = after;
      progress.update(result.rows, result.rows);
    });
    current.catch(() => {}); // awaited through `previous`
    if (before) await before;
    previous = current;
    rows = await awaitPage(next);
  }
  await settle();
  if (o.full || !position) {
    await pool.query(`update etl.mysql_position set full_load_at = now() where source = $1 and entity = $2`, [o.source, entity]);
  }
  if (o.reconcileDeletes) result.deleted = await reconcileDeletes(pool, connection, o, entity, t, where, result);
  progress.done(
    `${formatCount(result.rows)} rows read, ${formatCount(result.landed)} new versions in ${result.batches} batches` +
    (o.reconcileDeletes ? `, ${formatCount(result.deleted)} gone from the source marked deleted` : '') +
    `, ${formatCount(Math.round(result.rows / Math.max(progress.elapsedSeconds(), 0.001)))} rows/s; ` +
    `watermark ${result.watermark ? `${result.watermark.updatedAt} id ${result.watermark.id}` : 'none (empty table)'}`,
  );
  return result;
}

/**
 * A table row as a staging record: column names as keys, datetimes as ISO-8601 with the
 * source's offset (the row object is reused as the payload).
 */
function toRecord(row: Record<string, unknown>, t: MysqlTableConfig, datetimes: string[], timezone: string): SourceRecord {
  for (const column of datetimes) {
    const value = row[column];
    if (typeof value === 'string') row[column] = isoDatetime(value, timezone);
  }
  const updated = row[t.updated];
  return {
    sourceKey: String(row[t.key]),
    updatedAt: typeof updated === 'string' ? updated : null,
    isDeleted: false,
    payload: row,
  };
}

// mysql2 column types TIMESTAMP and DATETIME (dateStrings keeps them as the source text)
const DATETIME_TYPES = new Set([7, 12]);

function isoDatetime(value: string, timezone: string): string {
  return `${value.replace(' ', 'T')}${timezone}`;
}

/**
 * The table's columns, text columns read as the source says their bytes are: with
 * textEncoding cp1251, a latin1 column holding Windows-1251 bytes is converted by the
 * server (CONVERT(BINARY col USING cp1251)), so the rows arrive as proper UTF-8 and the
 * decoding runs on the MySQL side, not in the loader's one thread.
 */
async function selectList(connection: mysql.Connection, table: string, encoding: 'utf8' | 'cp1251'): Promise<string> {
  const [rows] = await connection.query(
    `SELECT column_name AS name, character_set_name AS charset FROM information_schema.columns
     WHERE table_schema = DATABASE() AND table_name = ? ORDER BY ordinal_position`, [table]);
  const columns = rows as Array<{ name: string; charset: string | null }>;
  if (columns.length === 0) throw new MysqlLoadError(`table ${table} does not exist in the source database`);
  return columns.map(({ name, charset }) => {
    const id = connection.escapeId(name);
    return encoding === 'cp1251' && charset !== null && charset !== 'utf8mb4' && charset !== 'utf8mb3' && charset !== 'utf8'
      ? `CONVERT(CAST(${id} AS BINARY) USING cp1251) AS ${id}`
      : id;
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
async function savePosition(client: pg.PoolClient, source: string, entity: Entity, table: string, at: { updatedAt: string; id: number }, rows: number): Promise<void> {
  await client.query(
    `insert into etl.mysql_position as p (source, entity, source_table, updated_at, last_id, rows_landed)
     values ($1, $2, $3, $4::timestamp, $5, $6)
     on conflict (source, entity) do update set
       updated_at = case when (excluded.updated_at, excluded.last_id) > (p.updated_at, p.last_id) then excluded.updated_at else p.updated_at end,
       last_id = case when (excluded.updated_at, excluded.last_id) > (p.updated_at, p.last_id) then excluded.last_id else p.last_id end,
       source_table = excluded.source_table,
       rows_landed = p.rows_landed + excluded.rows_landed,
       updated = now()`,
    [source, entity, table, at.updatedAt, at.id, rows],
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
    const { rows } = await client.query<{ source_key: string }>(
      `select c.source_key from (
         select distinct on (source_key) source_key, is_deleted
         from staging.record where source = $1 and entity = $2
         order by source_key, source_updated_at desc nulls last, staging_id desc) c
       where not c.is_deleted and not exists (select from source_key k where k.source_key = c.source_key)
       order by 1`,
      [o.source, entity],
    );
    return rows.map((r) => r.source_key);
  });
  if (gone.length === 0) return 0;
  const now = new Date().toISOString();
  const records: SourceRecord[] = gone.map((key) => ({ sourceKey: key, updatedAt: now, isDeleted: true, payload: { [t.key]: key, deleted_at: now } }));
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

function lostConnection(e: unknown, where: string, source: string, table: string, r: TableResult): Error {
  const error = e as { code?: string; message?: string; fatal?: boolean };
  const lost = error.fatal === true || /closed state/.test(error.message ?? '') ||
    ['PROTOCOL_CONNECTION_LOST', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT'].includes(error.code ?? '');
  const mark = r.watermark ? `updated_at ${r.watermark.updatedAt}, id ${r.watermark.id}` : 'where it was before this run';
  const what = lost ? `lost the connection to MySQL at ${where}` : `MySQL at ${where} failed`;
  const detail = error.code ? `${error.code}: ${error.message}` : error.message ?? String(e);
  return new MysqlLoadError(
    `${what} while reading ${source} ${table} (${detail}); ` +
    `${formatCount(r.rows)} rows in ${r.batches} batches were landed and the watermark stays at ${mark}; run again to continue`,
  );
}

/** host:port/database of a MySQL URL, never the password. */
export function describeServer(url: string): string {
  try {
    const u = new URL(url);
    return `${u.hostname}:${u.port || 3306}${u.pathname}`;
  } catch {
    return '(unparseable MYSQL_URL)';
  }
}

/** --since DATE or timestamp as the source's DATETIME text. */
function sinceTimestamp(since: string): string {
  const match = /^(\d{4}-\d{2}-\d{2})(?:[T ](\d{2}:\d{2}(?::\d{2})?))?$/.exec(since);
  if (!match) throw new MysqlLoadError(`--since '${since}' is not a date (YYYY-MM-DD or YYYY-MM-DD HH:MM:SS)`);
  const time = match[2] ?? '00:00:00';
  return `${match[1]} ${time.length === 5 ? `${time}:00` : time}`;
}
