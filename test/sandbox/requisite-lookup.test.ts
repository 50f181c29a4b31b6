import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requisiteMethods } from '../../src/sandbox/methods/requisite.js';
import type { MethodContext } from '../../src/sandbox/methods/method.js';
import { applySchema } from '../../src/sandbox/store/schema.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';

// A push looks every new company up by INN in the portal before it creates it. The sandbox
// answers those lookups from its tables; read by a scan of every requisite, each one costs
// as much as the portal holds, and a push at seed scale slows to a crawl as it fills.

let db: TestDatabase;
let pool: pg.Pool;
beforeAll(async () => {
  db = await createTestDatabase();
  pool = new pg.Pool({ connectionString: db.url, max: 2, options: '-c search_path=lookup' });
  // the database is dropped with force at the end: a connection still closing is cut, which is no failure
  pool.on('error', () => {});
  await applySchema(pool, 'lookup');
  await pool.query(`
    insert into company (id, fields, created_via) select i, jsonb_build_object('TITLE', 'Компания ' || i), 'import' from generate_series(1, 5000) as i;
    insert into requisite (fields)
    select jsonb_build_object('ENTITY_TYPE_ID', '4', 'ENTITY_ID', i::text, 'PRESET_ID', '5', 'NAME', 'Организация', 'RQ_INN', (7700000000 + i)::text)
    from generate_series(1, 5000) as i;
    analyze requisite;`);
});
afterAll(async () => {
  await pool?.end();
  await db?.drop();
});

describe('crm.requisite.list by INN', () => {
  it('is read through an index, not a scan of every requisite', async () => {
    const client = await pool.connect();
    try {
      const queries: Array<{ text: string; values: unknown[] }> = [];
      const recording = { query: (text: string, values: unknown[]) => (queries.push({ text, values }), client.query(text, values)) };
      const ctx = { db: recording, now: new Date(), userId: 1, charge: () => {} } as unknown as MethodContext;
      // as the push asks: @RQ_INN with many INNs, companies only
      const answer = await requisiteMethods['crm.requisite.list']!(ctx, {
        filter: { '@RQ_INN': ['7700000017', '7700004999', '7799999999'], ENTITY_TYPE_ID: '4' }, select: ['ID', 'ENTITY_ID', 'RQ_INN'], order: { ENTITY_ID: 'ASC' },
      });
      expect((answer.result as Array<{ RQ_INN: string }>).map((r) => r.RQ_INN)).toEqual(['7700000017', '7700004999']);
      expect(queries.length).toBeGreaterThan(0);
      // with scans priced out, the planner still picks one only when no index serves the filter
      await client.query('set enable_seqscan = off');
      for (const q of queries) {
        const { rows } = await client.query<{ 'QUERY PLAN': string }>(`explain ${q.text}`, q.values);
        expect(rows.map((r) => r['QUERY PLAN']).join('\n')).not.toMatch(/Seq Scan on requisite/);
      }
    } finally {
      await client.query('reset enable_seqscan');
      client.release();
    }
  });
});
