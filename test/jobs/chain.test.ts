import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registryConfig } from '../../src/config.js';
import { runWorker } from '../../src/jobs/worker.js';
import { isoMicros } from '../../src/land/change-time.js';
import { landBatch } from '../../src/land/staging-writer.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';

// What follows a landing is a job: the transform, one job under one key, debounced with a
// longest wait, committed with the landing; a worker runs it.

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db?.drop();
});

let next = 0;
/** One store B company record, landed as a file loader lands a batch. */
async function landCompany(inn = '7707083893'): Promise<void> {
  next += 1;
  const updated = new Date(Date.UTC(2026, 10, 1, 0, 0, next)).toISOString();
  await landBatch(db.pool, { source: 'store_b', entity: 'company', origin: 'test' }, [{
    sourceKey: `B-CHAIN-${next}`, updatedAt: isoMicros(updated), isDeleted: false,
    payload: { id: `B-CHAIN-${next}`, inn, title: `ООО «Цепочка-${next}»`, updated },
  }]);
}

interface TransformJob { count: number; due: number; age: number }
async function transformJob(): Promise<TransformJob> {
  const { rows: [job] } = await db.pool.query<{ count: number; due: number; age: number }>(`
    select count(*)::int as count, extract(epoch from max(run_at) - now())::float8 as due, extract(epoch from now() - min(created_at))::float8 as age
    from graphile_worker.jobs where task_identifier = 'transform' and key = 'transform' and queue_name = 'transform'`);
  return job!;
}

describe('the job chain', () => {
  it('a landing queues one transform job, debounced and never later than its longest wait after the first landing; a worker runs it', async () => {
    expect((await transformJob()).count).toBe(0);
    await landCompany();
    const first = await transformJob();
    expect(first.count).toBe(1);
    expect(first.due).toBeGreaterThan(0);
    expect(first.due).toBeLessThanOrEqual(0.15);
    // landings keep coming: still one job, its due time moved on but never past 1.5 s after the first landing
    for (let i = 0; i < 8; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      await landCompany();
    }
    const later = await transformJob();
    expect(later.count).toBe(1);
    expect(later.due + later.age).toBeLessThanOrEqual(1.5 + 0.01);
    // a landing that lands nothing new queues nothing more
    await landBatch(db.pool, { source: 'store_b', entity: 'company', origin: 'test' }, []);
    expect((await transformJob()).count).toBe(1);

    const worker = await runWorker({ pool: db.pool, registry: registryConfig({ sources: {} }), log: () => {}, tasks: ['transform'] });
    try {
      for (let i = 0; i < 200 && (await transformJob()).count > 0; i++) await new Promise((resolve) => setTimeout(resolve, 50));
      expect((await transformJob()).count).toBe(0);
      expect(Number(await db.value(`select count(*) from staging.batch where transformed_at is null`))).toBe(0);
      expect(Number(await db.value(`select count(*) from etl.source_company where source_key like 'B-CHAIN-%'`))).toBe(next);
    } finally {
      await worker.stop();
      await worker.done;
    }
  });
});
