import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LinkStore } from '../../src/crm/links.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';

// etl.crm_link as a push fills it: thousands of rows for a portal it never saw, written
// faster than autovacuum analyzes them. What a batch's outcome reads of the table.

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
  // what autovacuum would do is not this test's to count on
  await db.pool.query('alter table etl.crm_link set (autovacuum_enabled = off)');
});
afterAll(async () => {
  await db?.drop();
});

/** Rows a statement's plan read from etl.crm_link (those it returned and those it filtered out). */
function linkRowsRead(plan: Record<string, unknown>): number {
  const own = plan['Relation Name'] === 'crm_link'
    ? ((plan['Actual Rows'] as number) + ((plan['Rows Removed by Filter'] as number | undefined) ?? 0)) * (plan['Actual Loops'] as number)
    : 0;
  return own + ((plan.Plans as Array<Record<string, unknown>> | undefined) ?? []).reduce((n, p) => n + linkRowsRead(p), 0);
}

describe('etl.crm_link while a push writes it', () => {
  it('records a batch\'s outcome by reading that batch\'s links, not every link of the portal', async () => {
    const statements: Array<{ text: string; values: unknown[] }> = [];
    const recording = { query: (text: string, values: unknown[]) => (statements.push({ text, values }), db.pool.query(text, values)) } as unknown as pg.Pool;
    const links = new LinkStore(recording, 'portal.example/1', 'session-a', 1);
    await links.work('company'); // a push's start: the statistics of a portal without links

    // a phase claims 6 000 new companies, 400 at a time, and records the outcome of a batch of 16
    const ids = Array.from({ length: 6000 }, (_, i) => String(i + 1));
    for (let i = 0; i < ids.length; i += 400) expect(await links.claimNew('company', ids.slice(i, i + 400))).toHaveLength(400);
    const batch = ids.slice(-16);
    await links.linkedMany('company', batch.map((id, i) => [id, { bitrixId: 100 + i, how: 'created' }] as const));
    expect(await db.value(`select count(*)::int from etl.crm_link where state = 'linked'`)).toBe(16);

    const update = statements.find((s) => s.text.includes(`set state = 'linked'`))!;
    const client = await db.pool.connect();
    try {
      await client.query('begin');
      const { rows } = await client.query<{ 'QUERY PLAN': Array<{ Plan: Record<string, unknown> }> }>(`explain (analyze, format json) ${update.text}`, update.values);
      expect(linkRowsRead(rows[0]!['QUERY PLAN'][0]!.Plan)).toBeLessThanOrEqual(batch.length * 2);
    } finally {
      await client.query('rollback');
      client.release();
    }
  });
});
