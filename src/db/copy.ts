import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';

const COPY_ESCAPES: Record<string, string> = { '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r' };

/** A COPY text-format field; U+0000, which text columns cannot hold, is dropped. */
export function copyField(value: string | null | undefined): string {
  if (value === null || value === undefined) return '\\N';
  return value.replace(/[\\\t\n\r\u0000]/g, (c) => COPY_ESCAPES[c] ?? '');
}

/** COPY data from lines or ready chunks, sent in chunks of about 1 MiB. */
export async function copyInto(client: pg.PoolClient | pg.Client, copySql: string, lines: Iterable<string | Buffer>): Promise<void> {
  function* chunks(): Generator<string | Buffer> {
    let chunk = '';
    for (const line of lines) {
      if (typeof line !== 'string') {
        if (chunk) yield chunk;
        chunk = '';
        yield line;
        continue;
      }
      chunk += line;
      if (chunk.length > 1 << 20) {
        yield chunk;
        chunk = '';
      }
    }
    if (chunk) yield chunk;
  }
  await pipeline(Readable.from(chunks()), client.query(copyFrom(copySql)));
}

/**
 * Rows into a table through COPY and a temporary table, so the insert can carry an
 * `on conflict` clause. `table` and `columns` are our own identifiers, never user input.
 */
export async function landRows(
  client: pg.PoolClient,
  table: string,
  columns: string[],
  rows: (string | null)[][],
  onConflict = '',
): Promise<number> {
  await client.query(`create temp table copy_rows (like ${table} including defaults) on commit drop`);
  const list = columns.join(', ');
  await copyInto(client, `copy copy_rows (${list}) from stdin`, (function* () {
    for (const row of rows) yield row.map(copyField).join('\t') + '\n';
  })());
  const result = await client.query(`insert into ${table} (${list}) select ${list} from copy_rows ${onConflict}`);
  await client.query('drop table copy_rows');
  return result.rowCount ?? 0;
}
