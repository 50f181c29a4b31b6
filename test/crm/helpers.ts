import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { registryConfig } from '../../src/config.js';
import { push, type PushOptions, type PushResult } from '../../src/crm/push.js';
import { startSandbox, type Sandbox, type SandboxOptions } from '../../src/sandbox/index.js';
import { REGISTRY_SNAPSHOT } from '../../src/generate/index.js';
import { drainQueue } from '../../src/jobs/worker.js';
import { importSnapshot } from '../../src/registry/snapshot.js';
import { runTransform } from '../../src/transform/run.js';
import type { TestDatabase } from '../helpers/db.js';
import { createTestDatabase } from '../helpers/db.js';
import { landSample, makeSample, transformedSample, type Sample } from '../helpers/sample.js';

/**
 * A database with a sample landed, checked against its registry snapshot and transformed:
 * companies ready for the CRM. `size` makes it smaller than the small scale (store B's
 * companies and contacts).
 */
export async function readySample(seed: number, size?: { companies: number; contacts: number }): Promise<{ db: TestDatabase; sample: Sample }> {
  const { db, sample } = size ? await sizedSample(seed, size) : await transformedSample(seed);
  await importSnapshot(db.pool, join(sample.dir, REGISTRY_SNAPSHOT));
  await drainQueue({ pool: db.pool, registry: registryConfig({ sources: {}, registry: { provider: 'snapshot', concurrency: 4 } }), log: () => {} });
  await runTransform(db.pool);
  return { db, sample };
}

async function sizedSample(seed: number, size: { companies: number; contacts: number }): Promise<{ db: TestDatabase; sample: Sample }> {
  const db = await createTestDatabase();
  const sample = await makeSample({ scale: 'small', seed, ...size, events: 0 });
  await landSample(db.pool, sample);
  await runTransform(db.pool);
  return { db, sample };
}

export interface TestPortal {
  sandbox: Sandbox;
  /** The portal's own tables (its schema). */
  db: pg.Pool;
  schema: string;
  ca: string | undefined;
  push(options?: Partial<PushOptions>): Promise<PushResult>;
  stop(): Promise<void>;
}

let portals = 0;

/** A sandbox portal with its own schema in the test database, and a push to it. */
export async function testPortal(db: TestDatabase, options: Partial<SandboxOptions> = {}): Promise<TestPortal> {
  const schema = `portal_${process.pid}_${portals++}`;
  const sandbox = await startSandbox({ databaseUrl: db.url, schema, log: () => {}, ...options });
  const ca = sandbox.certFile ? readFileSync(sandbox.certFile, 'utf8') : undefined;
  const portalDb = new pg.Pool({ connectionString: db.url, max: 2, options: `-c search_path=${schema}` });
  portalDb.on('error', () => {});
  return {
    sandbox,
    db: portalDb,
    schema,
    ca,
    // the sandbox answers or drops a request only after it has run it: nothing to wait out after a lost answer
    push: (o = {}) => push(db.pool, { webhookUrl: sandbox.webhookUrl, ca, concurrency: 2, progressSeconds: 0, settleSeconds: 0.2, ...o }),
    async stop() {
      await portalDb.end();
      await sandbox.stop();
    },
  };
}
