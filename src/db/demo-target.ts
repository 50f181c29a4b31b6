import pg from 'pg';
import { redactUrl } from './connection.js';

/** Marks a database the demo filled, so running the demo on it again needs no --force. */
export const DEMO_MARK = 'demo_sample';

/** The demo would overwrite someone's data: refused unless asked for explicitly. */
export class DemoTargetError extends Error {}

/**
 * What a database given to the demo already holds: null when it is empty or the demo
 * filled it; else a sentence naming what is there. The demo writes a sample into it,
 * sets window_start and replaces the registry snapshot, so any table of its own counts.
 */
export async function demoTargetProblem(url: string): Promise<string | null> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows: [mark] } = await client.query<{ marked: boolean }>(
      `select to_regclass('etl.setting') is not null as marked`);
    if (mark?.marked) {
      const { rowCount } = await client.query(`select from etl.setting where name = $1`, [DEMO_MARK]);
      if (rowCount) return null;
    }
    const { rows } = await client.query<{ name: string; rows: string }>(
      `select format('%I.%I', n.nspname, c.relname) as name, c.reltuples::bigint as rows
       from pg_class c join pg_namespace n on n.oid = c.relnamespace
       where c.relkind in ('r', 'p') and n.nspname not in ('pg_catalog', 'information_schema') and n.nspname not like 'pg\\_%'
       order by c.reltuples desc, 1 limit 3`);
    if (rows.length === 0) return null;
    const { rows: [count] } = await client.query<{ n: string }>(
      `select count(*) as n from pg_class c join pg_namespace n on n.oid = c.relnamespace
       where c.relkind in ('r', 'p') and n.nspname not in ('pg_catalog', 'information_schema') and n.nspname not like 'pg\\_%'`);
    return `${redactUrl(url)} already holds ${count!.n} tables (${rows.map((r) => r.name).join(', ')}, …)`;
  } finally {
    await client.end();
  }
}

/** Records that the demo filled this database. */
export async function markDemoDatabase(pool: pg.Pool): Promise<void> {
  await pool.query(
    `insert into etl.setting (name, value, description) values ($1, now()::text, 'this database holds the demo''s sample (b2b-etl demo)')
     on conflict (name) do update set value = excluded.value`, [DEMO_MARK]);
}
