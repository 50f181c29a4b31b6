import { readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, fetch } from 'undici';
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
const usedAddresses = new Set<string>();

/**
 * What an imported item costs at a test portal unless a test says otherwise: a thousandth of a
 * second of execution time (the docs' example, 1.19 s, would make a test of a few hundred
 * entities wait out the portal's execution-time limit).
 */
export const TEST_IMPORT_ITEM_SECONDS = 0.001;

/** A sandbox portal with its own schema in the test database, and a push to it. */
export async function testPortal(db: TestDatabase, options: Partial<SandboxOptions> = {}): Promise<TestPortal> {
  const schema = `portal_${process.pid}_${portals++}`;
  const start = () => startSandbox({
    databaseUrl: db.url, schema, log: () => {}, ...options,
    operating: { importItemSeconds: TEST_IMPORT_ITEM_SECONDS, ...options.operating },
  });
  // A new sandbox is a new portal: at the address of an earlier one the push would rightly take
  // it for that portal emptied, and refuse. The system may hand out a port again once it is
  // free, so a sandbox on a used port is kept open until one on a new port has started.
  const held: Sandbox[] = [];
  let sandbox = await start();
  while (usedAddresses.has(sandbox.url) && held.length < 20) {
    held.push(sandbox);
    sandbox = await start();
  }
  await Promise.all(held.map((h) => h.stop()));
  usedAddresses.add(sandbox.url);
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

/** The portal's name in etl.crm_link when it was first reached at its sandbox's address. */
export const portalKey = (portal: TestPortal) => new URL(portal.sandbox.url).host;

/** One REST call to the portal as a manager's tool would make it; the result, or an error with the portal's answer. */
export async function rest(portal: TestPortal, method: string, params: unknown, webhookUrl = portal.sandbox.webhookUrl): Promise<any> {
  const dispatcher = new Agent({ connect: portal.ca ? { ca: portal.ca } : {} });
  try {
    const response = await fetch(`${webhookUrl}${method}.json`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(params), dispatcher,
    });
    const json = (await response.json()) as { result: unknown; error?: string };
    if (json.error !== undefined) throw new Error(`${method}: ${JSON.stringify(json)}`);
    return json.result;
  } finally {
    await dispatcher.close();
  }
}

/** The environment of a CLI push to this portal: a config file with its certificate and `crm` settings, and its webhook. */
export function cliEnv(portal: TestPortal, crm: Record<string, unknown> = {}, webhookUrl = portal.sandbox.webhookUrl): Record<string, string> {
  const file = join(tmpdir(), `b2b-etl-push-${process.pid}-${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(file, JSON.stringify({ crm: { caFile: portal.sandbox.certFile, settleSeconds: 0.2, ...crm } }));
  return { B2B_ETL_CONFIG: file, BITRIX24_WEBHOOK_URL: webhookUrl };
}

/** Companies and contacts linked on the portal, and what the portal holds. */
export async function held(db: TestDatabase, portal: TestPortal): Promise<{ linked: { company: number; contact: number }; crm: { companies: number; contacts: number } }> {
  const { rows } = await db.pool.query<{ entity: 'company' | 'contact'; n: number }>(
    `select entity, count(*)::int as n from etl.crm_link where portal = $1 and state = 'linked' group by entity`, [portalKey(portal)]);
  const { rows: [crm] } = await portal.db.query<{ companies: number; contacts: number }>(
    'select (select count(*)::int from company) as companies, (select count(*)::int from contact) as contacts');
  const linked = { company: 0, contact: 0, ...Object.fromEntries(rows.map((r) => [r.entity, r.n])) };
  return { linked, crm: crm! };
}
