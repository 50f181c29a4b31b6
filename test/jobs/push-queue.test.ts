import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { queuePush } from '../../src/crm/queue.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';

// The push a transform queues after it wrote canonical rows: one waiting job per portal.

describe('queueing the push after a transform', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => {
    await db?.drop();
  });

  const env = { BITRIX24_WEBHOOK_URL: 'https://b2b.bitrix24.ru/rest/1/k3y5ecret0000000/' };
  const job = async () => (await db.rows<{ key: string; attempts: number; revision: number; due_in: number }>(
    `select key, attempts, revision, round(extract(epoch from run_at - now()))::int as due_in from graphile_worker.jobs where task_identifier = 'crm_push'`));

  it('queues one job for the portal; a job waiting, never tried, is left as it is; a failed one waiting for its retry is due again within a second', async () => {
    expect(await queuePush(db.pool, { companies: 0, contacts: 0 }, env)).toBe(false);
    expect(await job()).toEqual([]);
    expect(await queuePush(db.pool, { companies: 3, contacts: 0 }, env)).toBe(true);
    const [first] = await job();
    expect(first).toMatchObject({ key: 'crm_push:b2b.bitrix24.ru', attempts: 0 });
    // the next transforms find it waiting: it is not touched
    expect(await queuePush(db.pool, { companies: 0, contacts: 5 }, env)).toBe(true);
    expect(await job()).toEqual([first]);

    // it failed, and waits for its retry an hour away
    await db.pool.query(`update graphile_worker._private_jobs set attempts = 1, last_error = 'portal unreachable', run_at = now() + interval '1 hour' where key = 'crm_push:b2b.bitrix24.ru'`);
    expect(await queuePush(db.pool, { companies: 1, contacts: 0 }, env)).toBe(true);
    const [again] = await job();
    expect(again).toMatchObject({ key: 'crm_push:b2b.bitrix24.ru', attempts: 0 });
    expect(again!.revision).toBeGreaterThan(first!.revision);
    expect(again!.due_in).toBeLessThanOrEqual(1);
  });
});
