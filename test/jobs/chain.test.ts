import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registryConfig } from '../../src/config.js';
import { queueTransform, requestTransform, sweepTransform } from '../../src/jobs/chain.js';
import { runWorker } from '../../src/jobs/worker.js';
import { isoMicros } from '../../src/land/change-time.js';
import { landBatch } from '../../src/land/staging-writer.js';
import { REGISTRY_FLAG } from '../../src/registry/pause.js';
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

  it('a due transform goes before registry checks that were due earlier: a live feed is not queued behind their backlog', async () => {
    // ten registry checks due a minute ago, as a feed of new companies leaves them
    const inns = ['7707083893', '7736050003', '7702070139', '7728168971', '7710140679', '7704217370', '7705031674', '7712040126', '7730060164', '7740000076'];
    await db.pool.query(
      `select graphile_worker.add_job(identifier => 'registry_check', payload => json_build_object('inn', inn), job_key => inn,
         run_at => now() - interval '1 minute', flags => array[$2]) from unnest($1::text[]) as inn`, [inns, REGISTRY_FLAG]);
    const since = new Date();
    await landCompany('7707083893');
    // the transform is due once its debounce has passed
    while ((await transformJob()).due > 0) await new Promise((resolve) => setTimeout(resolve, 20));

    // one job at a time: the order the worker takes them in is the order they run
    const worker = await runWorker({ pool: db.pool, registry: registryConfig({ sources: {} }), log: () => {}, concurrency: 1, tasks: ['transform', 'registry_check'] });
    try {
      for (let i = 0; i < 400; i++) {
        const left = Number(await db.value(`select count(*) from graphile_worker.jobs where task_identifier = 'registry_check' and key = any($1)`, [inns]));
        if (left === 0 && (await transformJob()).count === 0) break;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    } finally {
      await worker.stop();
      await worker.done;
    }
    const { rows: [order] } = await db.pool.query<{ transform: Date | null; first_check: Date | null; checks: number }>(
      `select (select min(started_at) from etl.run where started_at >= $2) as transform,
              min(fetched_at) as first_check, count(*)::int as checks
       from etl.registry_lookup where inn = any($1) and fetched_at >= $2`, [inns, since]);
    expect(order!.checks).toBe(inns.length);
    expect(order!.transform).not.toBeNull();
    expect(order!.transform!.getTime()).toBeLessThan(order!.first_check!.getTime());
  });

  it("a caller with a longer wait (a registry answer) never moves the transform past a live feed's longest wait", async () => {
    await db.pool.query(`select graphile_worker.remove_job('transform')`);
    expect((await transformJob()).count).toBe(0);
    // a feed's landing: due within 300 ms
    await queueTransform(db.pool, { debounceMs: 50, maxWaitMs: 300 });
    // registry answers keep coming, each with a debounce of 150 ms and a longest wait of 1.5 s
    for (let i = 0; i < 8; i++) {
      await new Promise((resolve) => setTimeout(resolve, 60));
      await queueTransform(db.pool);
    }
    const job = await transformJob();
    expect(job.count).toBe(1);
    expect(job.age).toBeGreaterThan(0.4);
    expect(job.due + job.age).toBeLessThanOrEqual(0.3 + 0.01);

    // once that job has run, the next one's deadline is its own again
    await db.pool.query(`select graphile_worker.remove_job('transform')`);
    await queueTransform(db.pool);
    const next = await transformJob();
    expect(next.due).toBeGreaterThan(0);
  });

  it('a registry answer rides along with a transform that waits, but not with one that failed', async () => {
    await db.pool.query(`select graphile_worker.remove_job('transform')`);
    await requestTransform(db.pool);
    const first = await db.pool.query<{ id: string }>(`select id from graphile_worker.jobs where key = 'transform'`);
    expect(first.rows).toHaveLength(1);
    // another answer: the waiting job serves it, nothing is queued or moved
    const before = await db.pool.query(`select run_at, revision from graphile_worker.jobs where key = 'transform'`);
    await requestTransform(db.pool);
    expect((await db.pool.query(`select run_at, revision from graphile_worker.jobs where key = 'transform'`)).rows).toEqual(before.rows);

    // the waiting job failed its last attempt (graphile-worker leaves it, unlocked, under its key)
    await db.pool.query(`update graphile_worker._private_jobs set attempts = max_attempts, last_error = 'test' where id = $1`, [first.rows[0]!.id]);
    await requestTransform(db.pool);
    const { rows } = await db.pool.query<{ attempts: number }>(`select attempts from graphile_worker.jobs where key = 'transform'`);
    expect(rows).toEqual([{ attempts: 0 }]);
    // the failed one is still there, keyless: taken away with the new one
    await db.pool.query(`select graphile_worker.complete_jobs(array(select id from graphile_worker.jobs where task_identifier = 'transform'))`);
  });

  it('the sweep queues a transform for batches a lost queueing left behind, and only then', async () => {
    expect(await sweepTransform(db.pool, 0)).toBe(false); // nothing waits
    await landCompany();
    // the landing's job taken away, as when a worker takes the waiting job while add_job looks
    await db.pool.query(`select graphile_worker.remove_job('transform')`);
    expect(await sweepTransform(db.pool, 60)).toBe(false); // landed a moment ago: its own job may be on its way
    expect(await sweepTransform(db.pool, 0)).toBe(true);
    expect((await transformJob()).count).toBe(1);
    expect(await sweepTransform(db.pool, 0)).toBe(false); // one is queued now

    // a transform that failed all its attempts is for a person (status says so): the sweep leaves it
    await db.pool.query(`update graphile_worker._private_jobs set attempts = max_attempts, last_error = 'test' where key = 'transform'`);
    expect(await sweepTransform(db.pool, 0)).toBe(false);
    await db.pool.query(`select graphile_worker.complete_jobs(array(select id from graphile_worker.jobs where task_identifier = 'transform'))`);
  });
});

