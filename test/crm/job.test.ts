import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registryConfig } from '../../src/config.js';
import { drainQueue } from '../../src/jobs/worker.js';
import { isoMicros } from '../../src/land/change-time.js';
import { landBatch } from '../../src/land/staging-writer.js';
import { runTransform } from '../../src/transform/run.js';
import { runCli } from '../helpers/cli.js';
import type { TestDatabase } from '../helpers/db.js';
import { readySample, testPortal, type TestPortal } from './helpers.js';

let db: TestDatabase;
let portal: TestPortal;
beforeAll(async () => {
  ({ db } = await readySample(47, { companies: 60, contacts: 150 }));
  portal = await testPortal(db, { https: false, bucket: { size: 50, drainPerSecond: 50 }, operating: { importItemSeconds: 0.001 } });
});
afterAll(async () => {
  delete process.env.BITRIX24_WEBHOOK_URL;
  await portal?.stop();
  await db?.drop();
});

describe('the crm_push job', () => {
  it('is queued after a transform that wrote canonical rows, once per portal, and pushes when the worker runs it', async () => {
    // without a portal configured, a transform queues nothing
    await landBatch(db.pool, { source: 'store_b', entity: 'company', origin: 'test' }, [
      { sourceKey: 'J-1', updatedAt: isoMicros('2026-11-20T10:00:00Z'), isDeleted: false, payload: { id: 'J-1', inn: '7707083893', title: 'ПАО Сбербанк' } }]);
    await runTransform(db.pool);
    expect(await db.value(`select count(*) from graphile_worker.jobs where task_identifier = 'crm_push'`)).toBe('0');

    process.env.BITRIX24_WEBHOOK_URL = portal.sandbox.webhookUrl;
    for (const key of ['J-2', 'J-3']) {
      await landBatch(db.pool, { source: 'store_b', entity: 'company', origin: 'test' }, [
        { sourceKey: key, updatedAt: isoMicros('2026-11-20T10:00:00Z'), isDeleted: false, payload: { id: key, inn: '7736050003', title: `ПАО ${key}` } }]);
      await runTransform(db.pool);
    }
    const portalKey = new URL(portal.sandbox.url).host;
    expect(await db.rows(`select q.queue_name, j.payload from graphile_worker._private_jobs j
      join graphile_worker._private_tasks t on t.id = j.task_id left join graphile_worker._private_job_queues q on q.id = j.job_queue_id
      where t.identifier = 'crm_push'`)).toEqual([{ queue_name: `crm_push:${portalKey}`, payload: { portal: portalKey } }]);
    // a transform that writes nothing queues nothing more
    await runTransform(db.pool);
    expect(await db.value(`select count(*) from graphile_worker.jobs where task_identifier = 'crm_push'`)).toBe('1');

    await db.pool.query(`update graphile_worker._private_jobs set run_at = now()`);
    // enrich runs the registry checks and the transform, never the push: the job waits
    const enrich = await runCli(['enrich'], db.url, { BITRIX24_WEBHOOK_URL: portal.sandbox.webhookUrl });
    expect(enrich.code, enrich.stderr).toBe(0);
    expect(enrich.stderr).toContain(`a push waits for ${portalKey} (crm_push)`);
    expect(await db.value(`select count(*) from graphile_worker.jobs where task_identifier = 'crm_push'`)).toBe('1');
    expect(Number((await portal.db.query('select count(*) from company')).rows[0].count)).toBe(0);
    await drainQueue({ pool: db.pool, registry: registryConfig({ sources: {}, registry: { provider: 'snapshot', concurrency: 2 } }), log: () => {} });
    const ready = Number(await db.value(`select count(*) from etl.crm_company_out`));
    expect(ready).toBeGreaterThan(20);
    expect(Number((await portal.db.query('select count(*) from company')).rows[0].count)).toBe(ready);
    expect(await db.value(`select count(*) from etl.crm_push_run where portal = $1 and finished_at is not null`, [portalKey])).toBe('1');
    expect(await db.value(`select count(*) from graphile_worker.jobs where task_identifier = 'crm_push'`)).toBe('0');
  });

  it('fails, with why and nothing sent, when BITRIX24_WEBHOOK_URL has come to reach another portal than the one it was queued for', async () => {
    const portalKey = new URL(portal.sandbox.url).host;
    await landBatch(db.pool, { source: 'store_b', entity: 'company', origin: 'test' }, [
      { sourceKey: 'J-4', updatedAt: isoMicros('2026-11-21T10:00:00Z'), isDeleted: false, payload: { id: 'J-4', inn: '7728168971', title: 'АО Альфа-Банк' } }]);
    await runTransform(db.pool);
    expect(await db.value(`select j.payload ->> 'portal' from graphile_worker._private_jobs j join graphile_worker._private_tasks t on t.id = j.task_id where t.identifier = 'crm_push'`)).toBe(portalKey);
    const other = await testPortal(db, { https: false });
    try {
      process.env.BITRIX24_WEBHOOK_URL = other.sandbox.webhookUrl;
      await db.pool.query(`update graphile_worker._private_jobs set run_at = now()`);
      await drainQueue({ pool: db.pool, registry: registryConfig({ sources: {}, registry: { provider: 'snapshot', concurrency: 2 } }), log: () => {} });
      const [job] = await db.rows<{ attempts: number; last_error: string }>(`select j.attempts, j.last_error from graphile_worker._private_jobs j join graphile_worker._private_tasks t on t.id = j.task_id where t.identifier = 'crm_push'`);
      expect(job?.attempts).toBe(1);
      expect(job?.last_error).toContain(`the job is for portal ${portalKey}, but BITRIX24_WEBHOOK_URL reaches portal ${new URL(other.sandbox.url).host}`);
      expect(Number((await other.db.query('select count(*) from company')).rows[0].count)).toBe(0);
      // the other portal is not made known by a job that was not for it
      expect(await db.value(`select count(*) from etl.crm_portal where portal = $1`, [new URL(other.sandbox.url).host])).toBe('0');
    } finally {
      await other.stop();
    }
  });
});
