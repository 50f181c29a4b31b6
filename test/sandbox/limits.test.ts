import { readFileSync } from 'node:fs';
import { request } from 'node:https';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LeakyBucket, PLAN_BUCKETS } from '../../src/sandbox/limits.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { startPortal, type Portal } from './helpers.js';

const QUERY_LIMIT = { error: 'QUERY_LIMIT_EXCEEDED', error_description: 'Too many requests' };
const OPERATION_LIMIT = { error: 'OPERATION_TIME_LIMIT', error_description: 'Method is blocked due to operation time limit' };
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

let db: TestDatabase;
const portals: Portal[] = [];
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  for (const portal of portals) await portal.stop();
  await db?.drop();
});

async function portal(schema: string, options: Parameters<typeof startPortal>[1]): Promise<Portal> {
  const started = await startPortal(db.url, { schema, ...options });
  portals.push(started);
  return started;
}

describe('the leaky bucket', () => {
  it('refuses the request after the counter has exceeded the bucket with 503 QUERY_LIMIT_EXCEEDED, counts a batch as one request, drains, and keeps one bucket per client IP', async () => {
    // a drain of one request in 20 s, so the burst below cannot be helped by draining on a loaded machine
    const p = await portal('bucket', { bucket: { size: 5, drainPerSecond: 0.05 } });
    for (let i = 0; i < 4; i++) expect((await p.rest('crm.company.list')).status).toBe(200);
    const batch = await p.rest('batch', { cmd: Object.fromEntries(Array.from({ length: 30 }, (_, i) => [`c${i}`, `crm.company.add?fields[TITLE]=B${i}`])) });
    expect(batch.status).toBe(200);
    expect(Object.keys(batch.json.result.result)).toHaveLength(30);
    // the counter is at 5, not above it: one more passes and takes it past the bucket
    expect((await p.rest('crm.company.list')).status).toBe(200);
    const refused = await p.rest('crm.company.add', { fields: { TITLE: 'refused' } });
    expect(refused).toEqual({ status: 503, json: QUERY_LIMIT });

    // another client address has a bucket of its own
    const fromOther = await new Promise<number>((resolve, reject) => {
      const req = request(`${p.sandbox.webhookUrl}crm.company.list`, { method: 'POST', ca: readFileSync(p.sandbox.certFile!, 'utf8'), localAddress: '127.0.0.2' }, (res) => {
        res.resume();
        resolve(res.statusCode!);
      });
      req.on('error', reject);
      req.end();
    });
    expect(fromOther).toBe(200);
    expect((await p.sandbox.calls()).at(-1)!.client).toBe('127.0.0.2');

    const titles = (await p.rest('crm.company.list', { filter: { TITLE: 'refused' } }));
    expect(titles.status).toBe(503); // still refused: a refusal does not drain the counter
    const calls = await p.sandbox.calls();
    expect(calls.filter((c) => c.status === 503 && c.error === 'QUERY_LIMIT_EXCEEDED')).toHaveLength(2);
    expect(calls.find((c) => c.params && (c.params as any).fields?.TITLE === 'refused')?.status).toBe(503);

    // a full bucket drains: 4/s frees two requests in half a second (the exact timing is the unit test's)
    const draining = await portal('bucket_drain', { bucket: { size: 1, drainPerSecond: 4 } });
    for (let i = 0; i < 2; i++) expect((await draining.rest('crm.company.list')).status).toBe(200);
    await sleep(600);
    expect((await draining.rest('crm.company.list')).status).toBe(200);
  });

  it('lets the counter exceed 50 (enterprise 250) by one request, refuses the next, and drains 2/s (5/s)', () => {
    for (const [plan, size, drain] of [['standard', 50, 2], ['enterprise', 250, 5]] as const) {
      expect(PLAN_BUCKETS[plan]).toEqual({ size, drainPerSecond: drain });
      const bucket = new LeakyBucket(PLAN_BUCKETS[plan]);
      // "when the counter exceeds X, the next request is refused" (limits.md)
      for (let i = 0; i < size + 1; i++) expect(bucket.take('10.0.0.1', 0)).toBe(true);
      expect(bucket.take('10.0.0.1', 0)).toBe(false);
      expect(bucket.take('10.0.0.2', 0)).toBe(true);
      // one request's worth drains in 1/drain seconds
      expect(bucket.take('10.0.0.1', 1000 / drain - 1)).toBe(false);
      expect(bucket.take('10.0.0.1', 1000 / drain)).toBe(true);
    }
  });

  it('serves the enterprise plan\'s bucket over HTTP', async () => {
    const p = await portal('bucket_enterprise', { plan: 'enterprise' });
    for (let i = 0; i < 60; i++) expect((await p.rest('crm.enum.ownertype')).status).toBe(200);
  });
});

describe('the operating-time limit', () => {
  it('lets the call that crosses the limit finish, refuses the next call of that method with 429 until operating_reset_at, and keeps other methods working', async () => {
    // a limit of 1.5 s: the second 1-second call crosses it and finishes; the third is refused
    const p = await portal('operating', { operating: { limitSeconds: 1.5, windowSeconds: 4, commandSeconds: { 'crm.company.add': 1, 'crm.company.list': 0.1 } } });
    const first = await p.rest('crm.company.add', { fields: { TITLE: 'one' } });
    expect(first.status).toBe(200);
    expect(first.json.time.operating).toBe(1);
    const second = await p.rest('crm.company.add', { fields: { TITLE: 'two' } });
    expect(second.status).toBe(200);
    expect(second.json.time.operating).toBe(2);
    const resetAt: number = second.json.time.operating_reset_at;
    expect(resetAt).toBe(first.json.time.operating_reset_at);
    expect(resetAt - Date.now() / 1000).toBeGreaterThan(1);

    const blocked = await p.rest('crm.company.add', { fields: { TITLE: 'three' } });
    expect(blocked).toEqual({ status: 429, json: OPERATION_LIMIT });
    // calls of 0.1 s or less are not recorded, and another method is not blocked
    for (let i = 0; i < 3; i++) {
      const list = await p.rest('crm.company.list', { select: ['TITLE'] });
      expect(list.status).toBe(200);
      expect(list.json.time.operating).toBe(0);
      expect(list.json.result.map((c: any) => c.TITLE)).toEqual(['one', 'two']);
    }
    // inside a batch the blocked method fails alone
    const batch = await p.rest('batch', { cmd: { add: 'crm.company.add?fields[TITLE]=in-batch', list: 'crm.company.list' } });
    expect(batch.status).toBe(200);
    expect(batch.json.result.result_error).toEqual({ add: OPERATION_LIMIT });
    expect(batch.json.result.result.list).toHaveLength(2);

    await sleep(Math.max(0, resetAt * 1000 - Date.now()) + 50);
    const after = await p.rest('crm.company.add', { fields: { TITLE: 'after reset' } });
    expect(after.status).toBe(200);
    expect(after.json.time.operating).toBe(1);
  });

  it('charges a batch to its inner methods by default, and to `batch` when switched (JSSDK #539)', async () => {
    const cmd = { a: 'crm.company.add?fields[TITLE]=A', b: 'crm.company.add?fields[TITLE]=B', c: 'crm.company.add?fields[TITLE]=C' };
    const inner = await portal('charge_inner', { operating: { limitSeconds: 100, commandSeconds: 0.5 } });
    const innerBatch = await inner.rest('batch', { cmd });
    expect(innerBatch.json.result.result_time.c.operating).toBe(1.5);
    expect(innerBatch.json.time.operating).toBe(0);
    expect((await inner.rest('crm.company.add', { fields: { TITLE: 'D' } })).json.time.operating).toBe(2);

    const batchCharged = await portal('charge_batch', { operating: { limitSeconds: 2, commandSeconds: 0.5, charge: 'batch' } });
    const first = await batchCharged.rest('batch', { cmd });
    expect(first.json.time.operating).toBe(1.5);
    expect(Object.values(first.json.result.result_time).map((t: any) => t.operating)).toEqual([1.5, 1.5, 1.5]);
    expect((await batchCharged.rest('crm.company.add', { fields: { TITLE: 'D' } })).json.time.operating).toBe(0.5);
    expect((await batchCharged.rest('batch', { cmd })).status).toBe(200);
    expect(await batchCharged.rest('batch', { cmd })).toEqual({ status: 429, json: OPERATION_LIMIT });
    expect((await batchCharged.rest('crm.company.add', { fields: { TITLE: 'E' } })).status).toBe(200);
  });

  it('charges import by the item', async () => {
    const p = await portal('import_cost', { operating: { importItemSeconds: 0.5 } });
    const data = Array.from({ length: 4 }, (_, i) => ({ title: `I${i}` }));
    const answer = await p.rest('crm.item.batchImport', { entityTypeId: 4, data });
    expect(answer.status).toBe(200);
    expect(answer.json.time.operating).toBe(2);
    expect(answer.json.time.processing).toBe(2);
    const imported = await db.rows<{ created_via: string }>('select created_via from import_cost.company');
    expect(imported.map((r) => r.created_via)).toEqual(['import', 'import', 'import', 'import']);
  });
});
