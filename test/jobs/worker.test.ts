import { writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STORE_A_DUMP, REGISTRY_SNAPSHOT } from '../../src/generate/index.js';
import { useSampleWindow } from '../../src/generate/land-manifest.js';
import { loadMysqlDump } from '../../src/generate/load-mysql.js';
import { Random } from '../../src/generate/random.js';
import { makeInn10 } from '../../src/generate/requisites.js';
import { mysqlDatetime } from '../../src/generate/store-a.js';
import { importSnapshot } from '../../src/registry/snapshot.js';
import { startCli } from '../helpers/cli.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { BROKERS, createTopic, kafkaAvailable } from '../helpers/kafka.js';
import { createTestMysql, mysqlAvailable, type TestMysql } from '../helpers/mysql.js';
import { makeSample, type Sample } from '../helpers/sample.js';
import { testPortal, type TestPortal } from '../crm/helpers.js';

// `b2b-etl worker` runs the whole pipeline by itself: a new row in store A's replica (its
// sync on a schedule) and a new event on store B's topic each reach the Bitrix24 portal with
// no other command; /healthz and /metrics answer, and the metrics move.

const available = (await kafkaAvailable()) && (await mysqlAvailable());

describe.skipIf(!available)('the worker', () => {
  let db: TestDatabase;
  let my: TestMysql;
  let portal: TestPortal;
  let sample: Sample;
  beforeAll(async () => {
    sample = await makeSample({ scale: 'small', seed: 31, companies: 40, contacts: 120, storeACompanies: 40, storeAContacts: 60, events: 0 });
    db = await createTestDatabase();
    my = await createTestMysql();
    await loadMysqlDump(my.url, join(sample.dir, STORE_A_DUMP));
    await importSnapshot(db.pool, join(sample.dir, REGISTRY_SNAPSHOT));
    await useSampleWindow(db.pool, sample.truth.window_start);
    portal = await testPortal(db, { bucket: { size: 50, drainPerSecond: 50 } });
  });
  afterAll(async () => {
    await portal?.stop();
    await my?.drop();
    await db?.drop();
  });

  it('brings a new store A row (on its schedule) and a new Kafka event to the portal with no other command; /healthz, /metrics, the report at / and /status answer; SIGTERM stops it', async () => {
    const topic = await createTopic(2);
    const port = 20000 + Math.floor(Math.random() * 20000);
    const config = join(tmpdir(), `b2b-etl-worker-${process.pid}.json`);
    writeFileSync(config, JSON.stringify({
      sources: { store_a: { mysql: { textEncoding: 'cp1251' } }, store_b_events: { kafka: { topic, groupId: `worker-${topic}` } } },
      registry: { provider: 'snapshot' },
      crm: { caFile: portal.sandbox.certFile, bucketSize: 50, drain: 50, settleSeconds: 0.2 },
      worker: { sync: { store_a: '* * * * *' }, pushSweep: '* * * * *', port },
    }));
    // two companies nobody has seen: one new in store A, one from store B's topic; the registry knows both as active
    const r = new Random(7);
    const [innA, innB] = [makeInn10(r), makeInn10(r)];
    await db.pool.query(`insert into etl.registry_snapshot (inn, status, full_name, short_name, source_file)
      values ($1, 'ACTIVE', 'ООО «Новая А»', 'ООО «Новая А»', 'test'), ($2, 'ACTIVE', 'ООО «Новая Б»', 'ООО «Новая Б»', 'test')`, [innA, innB]);
    const worker = startCli(['worker'], db.url, {
      B2B_ETL_CONFIG: config, MYSQL_URL: my.url, KAFKA_BROKERS: BROKERS.join(','), BITRIX24_WEBHOOK_URL: portal.sandbox.webhookUrl,
    });
    let stderr = '';
    worker.child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    try {
      const inPortal = async (inn: string) => Number((await portal.db.query(`select count(*)::int as n from requisite where fields ->> 'RQ_INN' = $1`, [inn])).rows[0].n);
      const until = async (what: string, check: () => Promise<boolean>, seconds: number) => {
        for (let i = 0; i < seconds * 4; i++) {
          if (await check()) return;
          if (worker.child.exitCode !== null) throw new Error(`the worker exited while waiting until ${what}: ${stderr}`);
          await new Promise((resolve) => setTimeout(resolve, 250));
        }
        throw new Error(`waited ${seconds}s until ${what}; the worker said: ${stderr.slice(-3000)}`);
      };
      await until('the worker serves /healthz', async () => (await fetch(`http://127.0.0.1:${port}/healthz`).then((res) => res.status, () => 0)) === 200, 60);

      const now = mysqlDatetime(Date.now());
      await my.query(`insert into companies (id, inn, name, phone, email, created_at, updated_at) values (900001, ?, 'ООО Новая А', '8 (495) 111-22-33', 'a@novaya.ru', ?, ?)`, [innA, now, now]);
      const producer = new Kafka({ clientId: 'b2b-etl-tests', brokers: BROKERS, logLevel: logLevel.NOTHING }).producer();
      await producer.connect();
      const occurred = new Date().toISOString();
      await producer.send({ topic, messages: [{ key: 'B-NEW-1', value: JSON.stringify({
        event: 'company.upserted', occurred_at: occurred, data: { id: 'B-NEW-1', inn: innB, title: 'ООО «Новая Б»', phones: ['+7 495 222-33-44'], updated: occurred } }) }] });
      await producer.disconnect();

      // the event: landed, transformed, checked in the registry, pushed
      await until('store B\'s new company is in the portal', async () => (await inPortal(innB)) === 1, 90);
      // the row: on the next minute's sync
      await until('store A\'s new company is in the portal', async () => (await inPortal(innA)) === 1, 150);

      const health = await (await fetch(`http://127.0.0.1:${port}/healthz`)).json() as { ok: boolean };
      expect(health.ok).toBe(true);
      // a push's commands count once the push has finished (etl.crm_push_run): the company may
      // be in the portal while the push that put it there still sends its contacts
      const commands = new RegExp(`^b2b_etl_crm_commands\\{portal="${new URL(portal.sandbox.url).host}"\\} [1-9]`, 'm');
      await until('a finished push counts its commands in /metrics', async () => commands.test(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text()), 60);
      const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      // Prometheus text: comments, and samples `name{labels} value`
      for (const line of metrics.split('\n').filter((l) => l !== '')) {
        expect(line, line).toMatch(/^(# (HELP|TYPE) \w+ .+|\w+(\{(\w+="[^"]*",?)*\})? -?[\d.e+-]+|\w+(\{(\w+="[^"]*",?)*\})? NaN)$/);
      }
      const value = (name: string, labels: string) => Number(new RegExp(`^${name}\\{${labels}\\} ([\\d.e+]+)$`, 'm').exec(metrics)?.[1] ?? NaN);
      expect(value('b2b_etl_records_landed', 'source="store_a",entity="company"')).toBeGreaterThan(0);
      expect(value('b2b_etl_records_landed', 'source="store_b",entity="company"')).toBeGreaterThan(0);
      expect(value('b2b_etl_crm_commands', `portal="${new URL(portal.sandbox.url).host}"`)).toBeGreaterThan(0);
      expect(metrics).toMatch(new RegExp(`^b2b_etl_kafka_lag\\{topic="${topic}",partition="\\d",group="worker-${topic}"\\} 0$`, 'm'));
      expect(value('b2b_etl_transform_runs', 'kind="incremental"')).toBeGreaterThan(0);
      // / is the data-quality report (with what reached the portal), /status what `status` prints
      const report = await (await fetch(`http://127.0.0.1:${port}/`)).text();
      expect(report).toMatch(/^<!doctype html>/);
      expect(report).toContain(`in the portal ${new URL(portal.sandbox.url).host}:`);
      expect(await (await fetch(`http://127.0.0.1:${port}/status`)).text()).toMatch(/CRM portal/);

      worker.child.kill('SIGTERM');
      const done = await worker.done;
      expect(done.code, stderr).toBe(0);
      expect(stderr).toMatch(/worker: SIGTERM: finishing the batches and jobs in flight/);
      expect(Number(await db.value(`select count(*) from graphile_worker.jobs where locked_at is not null`))).toBe(0);
    } finally {
      if (worker.child.exitCode === null) worker.child.kill('SIGKILL');
    }
  });

  it('refuses to start, naming what to set, without MYSQL_URL for a scheduled sync or on a port of the config that is taken (exit 2)', async () => {
    const config = join(tmpdir(), `b2b-etl-worker-bad-${process.pid}.json`);
    writeFileSync(config, JSON.stringify({ sources: { store_a: { mysql: {} } }, worker: { port: 0 } }));
    const noMysql = await startCli(['worker'], db.url, { B2B_ETL_CONFIG: config, MYSQL_URL: '' }).done;
    expect(noMysql.code).toBe(2);
    expect(noMysql.stderr).toMatch(/MYSQL_URL is not set/);
    const taken = createServer().listen(0, '127.0.0.1');
    await new Promise((resolve) => taken.once('listening', resolve));
    try {
      writeFileSync(config, JSON.stringify({ worker: { port: (taken.address() as AddressInfo).port } }));
      const busy = await startCli(['worker'], db.url, { B2B_ETL_CONFIG: config }).done;
      expect(busy.code, busy.stderr).toBe(2);
      expect(busy.stderr).toMatch(/worker: cannot serve on 127\.0\.0\.1:\d+ \(EADDRINUSE\): set worker\.port \(0 for none\) or worker\.host in the config/);
    } finally {
      taken.close();
    }
  });
});
