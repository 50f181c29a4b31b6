import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REGISTRY_SNAPSHOT } from '../../src/generate/index.js';
import { DadataStub } from '../../src/registry/dadata-stub.js';
import type { RegistryRecord } from '../../src/registry/provider.js';
import { runTransform } from '../../src/transform/run.js';
import { runCli, startCli } from '../helpers/cli.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { landSample, makeSample, type Sample } from '../helpers/sample.js';

const TOKEN = 'right-token-0123456789abcdef';
const WRONG = 'wrong-token-fedcba9876543210';

interface Job { id: string; key: string; attempts: number; last_error: string | null; run_at: Date }
const jobs = (db: TestDatabase) => db.rows<Job>(`select id, key, attempts, last_error, run_at from graphile_worker.jobs where task_identifier = 'registry_check' order by id`);
const until = async (what: string, check: () => Promise<boolean>, seconds = 60) => {
  const deadline = Date.now() + seconds * 1000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
};

describe('a registry that refuses our settings pauses instead of looping', () => {
  let sample: Sample;
  let stub: DadataStub;
  let configFile: string;

  beforeAll(async () => {
    sample = await makeSample({ scale: 'small', seed: 41, companies: 60, contacts: 0, storeACompanies: 0, storeAContacts: 0, events: 0 });
    const rows = JSON.parse(readFileSync(join(sample.dir, REGISTRY_SNAPSHOT), 'utf8')) as Array<Record<string, string | null>>;
    const companies = new Map(rows.map((r) => [r.inn!, {
      inn: r.inn!, status: r.status as RegistryRecord['status'], liquidationDate: r.liquidation_date ?? null, fullName: r.full_name ?? null,
      shortName: r.short_name ?? null, legalForm: r.legal_form ?? null, kpp: r.kpp ?? null, ogrn: r.ogrn ?? null, address: r.address ?? null, head: r.head ?? null,
    }]));
    stub = new DadataStub({ token: TOKEN, companies });
    await stub.start();
    configFile = join(sample.dir, 'dadata.json');
    writeFileSync(configFile, JSON.stringify({ sources: {}, registry: { provider: 'dadata', rps: 50, concurrency: 4, backoffMs: 20, workerStaleSeconds: 5 } }));
  });
  afterAll(async () => {
    await stub?.stop();
  });

  async function queuedSample(): Promise<{ db: TestDatabase; total: number }> {
    const db = await createTestDatabase();
    await landSample(db.pool, sample);
    await runTransform(db.pool);
    const total = (await jobs(db)).length;
    expect(total).toBeGreaterThan(20);
    return { db, total };
  }

  it('enrich with a wrong token: one clear message, exit 1, at most one request per job slot, jobs kept with their error; re-queuing keeps it; a new token lifts the pause', async () => {
    const { db, total } = await queuedSample();
    const env = { B2B_ETL_CONFIG: configFile, DADATA_URL: stub.url, DADATA_TOKEN: WRONG };
    try {
      const start = stub.requests.length;
      const refused = await runCli(['enrich'], db.url, env);
      expect(refused.code, refused.stderr).toBe(1);
      expect(refused.stderr).not.toContain(WRONG);
      expect(refused.stderr).not.toMatch(/\n\s+at /); // no stack trace
      // said once when it paused, once in the summary: not once per company
      expect(refused.stderr.match(/DaData refused the request: 401/g)?.length, refused.stderr).toBe(2);
      expect(refused.stderr).toMatch(/check DADATA_TOKEN/);
      expect(refused.stderr).toMatch(/registry resume/);
      // only the checks already in flight when the first 401 came back were sent
      const asked = stub.requests.length - start;
      expect(asked).toBeGreaterThan(0);
      expect(asked - start).toBeLessThanOrEqual(4);
      const [pause] = await db.rows<{ pause_kind: string; pause_reason: string; config_fingerprint: string }>(`select pause_kind, pause_reason, config_fingerprint from etl.registry_pacing where provider = 'dadata'`);
      expect(pause).toMatchObject({ pause_kind: 'config' });
      expect(pause!.pause_reason).toMatch(/401/);
      expect(pause!.config_fingerprint).not.toContain(WRONG);
      // every check is still queued; the ones taken before the pause failed once and say why
      const after = await jobs(db);
      expect(after.length).toBe(total);
      const failed = after.filter((j) => j.attempts > 0);
      expect(failed.length).toBeGreaterThanOrEqual(asked);
      expect(failed.length).toBeLessThanOrEqual(4);
      expect(failed.every((j) => j.attempts === 1 && /DaData refused the request: 401/.test(j.last_error ?? ''))).toBe(true);
      expect(await db.value(`select count(*) from etl.rejection where reason like 'registry%'`)).toBe('0');

      // status says the provider is paused and why, first as what needs a person (exit 1)
      const status = await runCli(['status'], db.url, env);
      expect(status.code, status.stderr).toBe(1);
      expect(status.stdout).toMatch(/^needs a person \(1\):\n {2}- registry dadata paused since /);
      expect(status.stdout).toMatch(/registry dadata paused since .*DaData refused the request: 401/);
      expect(status.stdout).toMatch(new RegExp(`registry checks: ${total} queued \\(${failed.length} failed at least once\\)`));

      // a second enrich with the same token asks nothing
      const again = await runCli(['enrich'], db.url, env);
      expect(again.code).toBe(1);
      expect(stub.requests.length - start).toBe(asked);

      // transforms re-queue every company without an answer: the failing jobs keep their attempts and error
      await runTransform(db.pool, { full: true });
      await db.pool.query(`select etl.queue_registry_checks(array(select inn from canonical.company))`);
      expect(await jobs(db)).toEqual(after);

      // the token is fixed: the pause lifts by itself and every check is answered
      const fixed = await runCli(['enrich'], db.url, { ...env, DADATA_TOKEN: TOKEN });
      expect(fixed.code, fixed.stderr).toBe(0);
      expect(fixed.stderr).toMatch(/the token or URL changed since it was refused/);
      expect(Number(await db.value(`select count(*) from etl.registry_lookup`))).toBe(total);
      expect(await jobs(db)).toEqual([]);
      expect(await db.value(`select count(*) from etl.registry_pacing where paused_until is not null`)).toBe('0');
    } finally {
      await db.drop();
    }
  });

  it('a worker stops calling the registry while paused; `registry resume` lifts the pause once the key is fixed on the provider side', async () => {
    const { db, total } = await queuedSample();
    const env = { B2B_ETL_CONFIG: configFile, DADATA_URL: stub.url, DADATA_TOKEN: WRONG };
    const start = stub.requests.length;
    const worker = startCli(['worker'], db.url, env);
    try {
      await until('the worker paused the provider', async () => Number(await db.value(`select count(*) from etl.registry_pacing where pause_kind = 'config'`)) === 1);
      // checks that were sent before the pause was recorded may still arrive; then nothing more
      await new Promise((r) => setTimeout(r, 1000));
      const asked = stub.requests.length;
      expect(asked - start).toBeLessThanOrEqual(4);
      await new Promise((r) => setTimeout(r, 3000));
      expect(stub.requests.length).toBe(asked);
      expect((await jobs(db)).length).toBe(total);
      expect(Math.max(...(await jobs(db)).map((j) => j.attempts))).toBe(1);

      stub.setToken(WRONG); // the key was paid for or re-enabled at DaData
      const resumed = await runCli(['registry', 'resume'], db.url, env);
      expect(resumed.code, resumed.stderr).toBe(0);
      expect(resumed.stderr).toMatch(/registry resume: dadata resumed \(was: DaData refused the request: 401/);
      await until('every check is answered', async () => Number(await db.value(`select count(*) from etl.registry_lookup`)) === total);
      expect(await db.value(`select count(*) from etl.registry_pacing where paused_until is not null`)).toBe('0');
    } finally {
      stub.setToken(TOKEN);
      worker.child.kill('SIGTERM');
      const ended = await worker.done;
      expect(ended.code, ended.stderr).toBe(0);
      expect(ended.stderr).not.toMatch(/\n\s+at /);
      expect(ended.stderr.match(/DaData refused the request/g)?.length, ended.stderr).toBe(1);
      await db.drop();
    }
  });
});
