import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registryConfig, type RegistryConfig } from '../../src/config.js';
import { REGISTRY_SNAPSHOT } from '../../src/generate/index.js';
import { drainQueue } from '../../src/jobs/worker.js';
import { isoMicros } from '../../src/land/change-time.js';
import { DadataStub } from '../../src/registry/dadata-stub.js';
import type { RegistryRecord } from '../../src/registry/provider.js';
import { runTransform } from '../../src/transform/run.js';
import { runCli, startCli } from '../helpers/cli.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { landSample, makeSample, transformedSample, type Sample } from '../helpers/sample.js';

const TOKEN = 'test-token-0123456789';

/** The generated registry export as the stub's registry. */
function registryOf(sample: Sample): Map<string, RegistryRecord> {
  const rows = JSON.parse(readFileSync(join(sample.dir, REGISTRY_SNAPSHOT), 'utf8')) as Array<Record<string, string | null>>;
  return new Map(rows.map((r) => [r.inn!, {
    inn: r.inn!, status: r.status as RegistryRecord['status'], liquidationDate: r.liquidation_date ?? null,
    fullName: r.full_name ?? null, shortName: r.short_name ?? null, legalForm: r.legal_form ?? null,
    kpp: r.kpp ?? null, ogrn: r.ogrn ?? null, address: r.address ?? null, head: r.head ?? null,
  }]));
}

const config = (over: Partial<RegistryConfig> = {}): RegistryConfig =>
  registryConfig({ sources: {}, registry: { provider: 'dadata', rps: 500, concurrency: 8, attempts: 5, backoffMs: 20, timeoutMs: 2000, ...over } });

async function drain(db: TestDatabase, stub: DadataStub, over: Partial<RegistryConfig> = {}): Promise<void> {
  const env = { DADATA_URL: stub.url, DADATA_TOKEN: TOKEN };
  const saved = { url: process.env.DADATA_URL, token: process.env.DADATA_TOKEN };
  Object.assign(process.env, env);
  try {
    await drainQueue({ pool: db.pool, registry: config(over), log: () => {} });
  } finally {
    if (saved.url === undefined) delete process.env.DADATA_URL; else process.env.DADATA_URL = saved.url;
    if (saved.token === undefined) delete process.env.DADATA_TOKEN; else process.env.DADATA_TOKEN = saved.token;
  }
}

async function queue(db: TestDatabase, inns: string[], force = false): Promise<void> {
  for (const inn of inns) {
    await db.pool.query(`select graphile_worker.add_job('registry_check', json_build_object('inn', $1::text, 'force', $2::boolean), job_key => $1)`, [inn, force]);
  }
}

const queued = async (db: TestDatabase) => Number(await db.value(`select count(*) from graphile_worker.jobs where task_identifier = 'registry_check'`));

describe('registry check with graphile-worker against a DaData-compatible stub', () => {
  let sample: Sample;
  let registry: Map<string, RegistryRecord>;
  let db: TestDatabase;
  let stub: DadataStub;

  beforeAll(async () => {
    ({ db, sample } = await transformedSample(31));
    registry = registryOf(sample);
    stub = new DadataStub({ token: TOKEN, companies: registry });
    await stub.start();
  });
  afterAll(async () => {
    await stub?.stop();
    await db?.drop();
  });

  it('asks once per valid INN, never for an invalid one, and each status gives its outcome', async () => {
    const canonical = await db.rows<{ inn: string }>(`select inn from canonical.company where not is_deleted`);
    // the transform queued one check per canonical company (job key = INN)
    expect(await queued(db)).toBe(canonical.length);
    // a check queued by hand for an INN that fails its checksum is dropped unasked
    await queue(db, ['7707083894', '500100732260']);
    await drain(db, stub);
    expect(stub.requests.length).toBe(canonical.length);
    const asked = new Set(stub.requests.map((r) => r.inn));
    expect(asked.has('7707083894') || asked.has('500100732260')).toBe(false);
    const invalid = await db.rows<{ inn: string }>(`select distinct etl.strip_spaces(inn) as inn from etl.source_company where inn is not null and not etl.inn_is_valid(inn)`);
    expect(invalid.length).toBeGreaterThan(10);
    expect(invalid.filter((i) => asked.has(i.inn))).toEqual([]);
    expect(await queued(db)).toBe(0);

    await runTransform(db.pool);
    const companies = new Map((await db.rows<{ inn: string; name: string; is_deleted: boolean; is_ready: boolean; registry_status: string | null }>(
      `select inn, name, is_deleted, is_ready, registry_status from canonical.company`)).map((c) => [c.inn, c]));
    const rejections = new Map((await db.rows<{ inn: string; reasons: string[]; details: string[] }>(`
      select s.inn, array_agg(distinct r.reason) as reasons, array_agg(distinct r.detail) as details
      from etl.rejection r join etl.source_company s using (source, source_key)
      where r.entity = 'company' and r.resolved_at is null and r.reason like 'registry%' group by s.inn`)).map((r) => [r.inn, r]));
    const wrong: string[] = [];
    const seen = new Set<string>();
    for (const { inn } of canonical) {
      const want = sample.truth.registry[inn]!;
      seen.add(want);
      const got = companies.get(inn)!;
      const rejected = rejections.get(inn);
      if (want === 'ACTIVE') {
        if (got.is_deleted || !got.is_ready || got.registry_status !== 'ACTIVE' || rejected) wrong.push(`${inn}: ${JSON.stringify({ got, rejected })}`);
        if (got.name !== registry.get(inn)!.shortName) wrong.push(`${inn}: name ${got.name} is not the registry's`);
      } else if (want === 'NOT_FOUND') {
        if (!got.is_deleted || got.is_ready || JSON.stringify(rejected?.reasons) !== '["registry_not_found"]') wrong.push(`${inn}: ${JSON.stringify({ got, rejected })}`);
      } else {
        const date = registry.get(inn)!.liquidationDate;
        if (!got.is_deleted || JSON.stringify(rejected?.reasons) !== '["registry_inactive"]' || !rejected!.details[0]!.includes(want) ||
            (date && !rejected!.details[0]!.includes(date))) wrong.push(`${inn}: ${JSON.stringify({ want, got, rejected })}`);
      }
    }
    expect(wrong.slice(0, 5)).toEqual([]);
    expect([...seen].sort()).toEqual(['ACTIVE', 'BANKRUPT', 'LIQUIDATED', 'LIQUIDATING', 'NOT_FOUND', 'REORGANIZING']);
    // contacts of a company the registry rejected are rejected with it
    expect(Number(await db.value(`select count(*) from etl.rejection where reason = 'company_rejected' and detail like '%registry_%' and resolved_at is null`))).toBeGreaterThan(0);

    // why shows the answer and when it was fetched
    const liquidated = canonical.find(({ inn }) => sample.truth.registry[inn] === 'LIQUIDATED')!.inn;
    const why = await runCli(['why', liquidated], db.url);
    expect(why.stdout).toMatch(/registry \(dadata\) says LIQUIDATED/);
    expect(why.stdout).toMatch(/fetched \d{4}-\d\d-\d\d/);
  });

  it('a second run asks nothing: fresh answers are cached', async () => {
    const before = stub.requests.length;
    const requeued = await db.value(`select etl.queue_registry_checks(array(select inn from canonical.company))`);
    expect(requeued).toBe(0);
    await queue(db, [...registry.keys()].slice(0, 50));
    await drain(db, stub);
    await runTransform(db.pool);
    expect(stub.requests.length).toBe(before);
  });

  it('`enrich --refresh-older-than` asks again only for answers older than that; the policy decides about unchecked companies', async () => {
    const before = stub.requests.length;
    const total = Number(await db.value(`select count(*) from etl.registry_lookup`));
    // ten answers are 40 days old
    await db.pool.query(`update etl.registry_lookup set fetched_at = now() - interval '40 days'
      where inn in (select inn from etl.registry_lookup order by inn limit 10)`);
    const env = { DADATA_URL: stub.url, DADATA_TOKEN: TOKEN, B2B_ETL_CONFIG: join(sample.dir, 'dadata.json') };
    writeFileSync(env.B2B_ETL_CONFIG, JSON.stringify({ sources: {}, registry: { provider: 'dadata', rps: 200, concurrency: 4 } }));
    const refreshed = await runCli(['enrich', '--refresh-older-than', '30d'], db.url, env);
    expect(refreshed.code, refreshed.stderr).toBe(0);
    expect(refreshed.stderr).toMatch(/enrich: 10 checks queued/);
    expect(stub.requests.length - before).toBe(10);
    expect(Number(await db.value(`select count(*) from etl.registry_lookup where fetched_at > now() - interval '1 hour'`))).toBe(total);
    expect(refreshed.stderr).not.toContain(TOKEN);

    // a company never checked waits by default, and goes on under the 'pass' policy
    const inn = '7707083893';
    const { landBatch } = await import('../../src/land/staging-writer.js');
    await landBatch(db.pool, { source: 'store_b', entity: 'company', origin: 'test' }, [{
      sourceKey: 'B-NEW', updatedAt: isoMicros('2026-10-01T00:00:00Z'), isDeleted: false,
      payload: { id: 'B-NEW', inn, title: 'ПАО Сбербанк', updated: '2026-10-01T00:00:00Z' } }]);
    await runTransform(db.pool);
    expect(await db.value(`select is_ready from canonical.company where inn = $1`, [inn])).toBe(false);
    await db.pool.query(`update etl.setting set value = 'pass' where name = 'registry_unchecked_policy'`);
    await runTransform(db.pool, { full: true });
    expect(await db.value(`select is_ready from canonical.company where inn = $1`, [inn])).toBe(true);
    await db.pool.query(`update etl.setting set value = 'wait' where name = 'registry_unchecked_policy'`);
    await db.pool.query(`delete from graphile_worker._private_jobs`);
  });

  it('a wrong token is a clear error that does not print the token, exits 1 and leaves the check queued with its error', async () => {
    const db2 = await createTestDatabase();
    try {
      await queue(db2, ['7707083893']);
      const config = join(sample.dir, 'dadata-wrong.json');
      writeFileSync(config, JSON.stringify({ sources: {}, registry: { provider: 'dadata', concurrency: 1 } }));
      const secret = 'wrong-secret-token-42';
      const run = await runCli(['enrich'], db2.url, { DADATA_URL: stub.url, DADATA_TOKEN: secret, B2B_ETL_CONFIG: config });
      expect(run.code, run.stderr).toBe(1);
      expect(run.stderr).toMatch(/DaData refused the request: 401/);
      expect(run.stderr).not.toContain(secret);
      expect(await db2.value(`select count(*) from etl.registry_lookup`)).toBe('0');
      const jobs = await db2.rows<{ key: string; attempts: number; last_error: string }>(`select key, attempts, last_error from graphile_worker.jobs`);
      expect(jobs).toEqual([{ key: '7707083893', attempts: 1, last_error: expect.stringMatching(/DaData refused the request: 401/) }]);
    } finally {
      await db2.drop();
    }
  });
});

describe('registry check failures', () => {
  let db: TestDatabase;
  let stub: DadataStub;
  let inns: string[];

  beforeAll(async () => {
    const sample = await makeSample({ scale: 'small', seed: 32, companies: 200, contacts: 0, storeACompanies: 0, storeAContacts: 0, events: 0 });
    const registry = registryOf(sample);
    inns = [...registry.keys()].slice(0, 40);
    stub = new DadataStub({ token: TOKEN, companies: registry });
    await stub.start();
  });
  afterAll(async () => {
    await stub?.stop();
  });

  it('retries 5xx, 429, timeouts and dropped connections until each check is stored once', async () => {
    db = await createTestDatabase();
    try {
      const batch = inns.slice(0, 20);
      await queue(db, batch);
      const start = stub.requests.length;
      stub.inject({ kind: 'status', status: 500 }, { kind: 'status', status: 429 }, { kind: 'hang', ms: 800 },
        { kind: 'status', status: 502 }, { kind: 'reset' }, { kind: 'status', status: 503 });
      await drain(db, stub, { timeoutMs: 300, concurrency: 4 });
      expect(Number(await db.value(`select count(*) from etl.registry_lookup`))).toBe(20);
      expect(stub.requests.length - start).toBe(20 + 6);
      expect(new Set(stub.requests.slice(start).filter((r) => r.status === 200).map((r) => r.inn)).size).toBe(20);
      expect(await queued(db)).toBe(0);
      expect(await db.value(`select count(*) from graphile_worker.jobs where last_error is not null`)).toBe('0');
    } finally {
      await db.drop();
    }
  });

  it('a spent quota pauses the checks until the reset, rejects nobody, and they resume after it', async () => {
    db = await createTestDatabase();
    try {
      await queue(db, inns.slice(0, 30));
      stub.setQuota(10);
      await drain(db, stub, { concurrency: 3 });
      expect(Number(await db.value(`select count(*) from etl.registry_lookup`))).toBe(10);
      const [pause] = await db.rows<{ paused_until: Date; pause_reason: string }>(`select paused_until, pause_reason from etl.registry_pacing where provider = 'dadata'`);
      expect(pause!.pause_reason).toMatch(/Feature 'SUGGESTIONS' disabled for token/);
      expect(pause!.paused_until.getTime()).toBeGreaterThan(Date.now());
      // the rest wait for the reset, queued, not failed
      expect(await queued(db)).toBe(20);
      expect(await db.value(`select count(*) from graphile_worker.jobs where task_identifier = 'registry_check' and run_at < $1`, [pause!.paused_until])).toBe('0');
      expect(await db.value(`select count(*) from etl.rejection where reason like 'registry%'`)).toBe('0');
      const asked = stub.requests.length;
      await drain(db, stub); // nothing is due: nothing is asked
      expect(stub.requests.length).toBe(asked);
      // the quota resets
      stub.setQuota(undefined);
      await db.pool.query(`update etl.registry_pacing set paused_until = now() - interval '1 second'`);
      await db.pool.query(`update graphile_worker._private_jobs set run_at = now()`);
      await drain(db, stub);
      expect(Number(await db.value(`select count(*) from etl.registry_lookup`))).toBe(30);
      // none left: a job that is, with what it holds, says why
      expect(await db.rows(`select key, run_at - now() as due_in, attempts, last_error, locked_at from graphile_worker.jobs where task_identifier = 'registry_check'`)).toEqual([]);
    } finally {
      await db.drop();
    }
  });

  it('two worker processes together stay within the rate limit, and a killed worker loses no job', async () => {
    db = await createTestDatabase();
    const configFile = join(await makeSample({ scale: 'small', seed: 33, companies: 10, contacts: 0, storeACompanies: 0, storeAContacts: 0, events: 0 }).then((s) => s.dir), 'worker.json');
    const rps = 10;
    writeFileSync(configFile, JSON.stringify({ sources: {}, registry: { provider: 'dadata', rps, concurrency: 6, workerStaleSeconds: 3, timeoutMs: 5000 } }));
    const env = { B2B_ETL_CONFIG: configFile, DADATA_URL: stub.url, DADATA_TOKEN: TOKEN };
    try {
      // 1. two processes, one queue: requests per second measured at the stub
      await queue(db, inns);
      const start = stub.requests.length;
      const a = startCli(['worker'], db.url, env);
      const b = startCli(['worker'], db.url, env);
      const lockers = new Set<string>();
      for (let i = 0; i < 600 && (await queued(db)) > 0; i++) {
        for (const row of await db.rows<{ locked_by: string }>(`select distinct locked_by from graphile_worker.jobs where locked_by is not null`)) lockers.add(row.locked_by);
        await new Promise((r) => setTimeout(r, 50));
      }
      a.child.kill('SIGTERM');
      b.child.kill('SIGTERM');
      const [ra, rb] = await Promise.all([a.done, b.done]);
      expect(ra.code, ra.stderr).toBe(0);
      expect(rb.code, rb.stderr).toBe(0);
      expect(lockers.size).toBeGreaterThanOrEqual(2); // both processes took jobs
      const times = stub.requests.slice(start).map((r) => r.at).sort((x, y) => x - y);
      expect(times.length, `${ra.stderr}\n${rb.stderr}`).toBe(40);
      let busiest = 0;
      for (let i = 0; i < times.length; i++) {
        let j = i;
        while (j < times.length && times[j]! - times[i]! < 1000) j++;
        busiest = Math.max(busiest, j - i);
      }
      // slots are 100 ms apart; on a loaded machine a request may reach the stub up to a slot
      // late and share a window with the next two: a burst of 2 over the limit, never more
      expect(busiest).toBeLessThanOrEqual(rps + 2);
      const overall = (times.length - 1) / ((times[times.length - 1]! - times[0]!) / 1000);
      expect(overall).toBeLessThanOrEqual(rps * 1.05);
      expect(overall).toBeGreaterThan(rps * 0.8);

      // 2. a worker killed with checks in flight: the next worker takes them over
      await db.pool.query(`truncate etl.registry_lookup`);
      await queue(db, inns.slice(0, 6), true);
      stub.setLatency(3000);
      const doomed = startCli(['worker'], db.url, env);
      const inFlight = stub.requests.length;
      for (let i = 0; i < 200 && stub.requests.length === inFlight && Number(await db.value(`select count(*) from graphile_worker.jobs where locked_at is not null`)) < 6; i++) {
        await new Promise((r) => setTimeout(r, 50));
      }
      expect(Number(await db.value(`select count(*) from graphile_worker.jobs where locked_at is not null`))).toBeGreaterThan(0);
      doomed.child.kill('SIGKILL');
      await doomed.done;
      stub.setLatency(0);
      const heir = startCli(['worker'], db.url, env);
      for (let i = 0; i < 400 && Number(await db.value(`select count(*) from etl.registry_lookup`)) < 6; i++) await new Promise((r) => setTimeout(r, 50));
      heir.child.kill('SIGTERM');
      const ended = await heir.done;
      expect(ended.stderr).toMatch(/unlocked the jobs of 1 dead worker pool/);
      expect(Number(await db.value(`select count(*) from etl.registry_lookup`)), ended.stderr).toBe(6);
      expect(await queued(db)).toBe(0);
    } finally {
      stub.setLatency(0);
      await db.drop();
    }
  });
});

describe('registry snapshot provider', () => {
  it('imports a CSV or JSON export, names a bad row, and `enrich` checks against it', async () => {
    const db = await createTestDatabase();
    const sample = await makeSample({ scale: 'small', seed: 34, companies: 300, contacts: 0, storeACompanies: 0, storeAContacts: 0, events: 0 });
    try {
      const csv = join(sample.dir, 'registry.csv');
      writeFileSync(csv, 'INN,Status,Full_Name,Short_Name,Liquidation_Date\n7707083893,ACTIVE,"ПУБЛИЧНОЕ АКЦИОНЕРНОЕ ОБЩЕСТВО ""СБЕРБАНК РОССИИ""","ПАО Сбербанк",\n7736050003,LIQUIDATED,"ПАО ""Газпром""",,2024-03-01\n');
      const imported = await runCli(['registry', 'import', csv], db.url);
      expect(imported.code, imported.stderr).toBe(0);
      expect(await db.value(`select full_name from etl.registry_snapshot where inn = '7707083893'`)).toBe('ПУБЛИЧНОЕ АКЦИОНЕРНОЕ ОБЩЕСТВО "СБЕРБАНК РОССИИ"');
      const bad = join(sample.dir, 'bad.csv');
      writeFileSync(bad, 'inn,status\n7707083893,ACTIVE\n7736050003,CLOSED\n');
      const refused = await runCli(['registry', 'import', bad], db.url);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toContain(`${bad}: row 2: status "CLOSED" is not one of ACTIVE`);
      expect(Number(await db.value(`select count(*) from etl.registry_snapshot`))).toBe(2); // the good import stands

      const json = join(sample.dir, REGISTRY_SNAPSHOT);
      expect((await runCli(['registry', 'import', json], db.url)).code).toBe(0);
      await landSample(db.pool, sample);
      await runTransform(db.pool);
      const enriched = await runCli(['enrich'], db.url);
      expect(enriched.code, enriched.stderr).toBe(0);
      expect(enriched.stderr).toMatch(/enrich: \d+ registry answers stored .*\(snapshot\)/);
      const statuses = await db.rows<{ inn: string; status: string | null }>(`select inn, status from etl.registry_lookup`);
      expect(statuses.length).toBeGreaterThan(100);
      expect(statuses.filter((s) => (s.status ?? 'NOT_FOUND') !== sample.truth.registry[s.inn])).toEqual([]);
    } finally {
      await db.drop();
    }
  });
});
