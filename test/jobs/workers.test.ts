import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { AssignerProtocol, Kafka, logLevel, Partitioners, type Admin } from 'kafkajs';
import mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STORE_A_DUMP, REGISTRY_SNAPSHOT } from '../../src/generate/index.js';
import { useSampleWindow } from '../../src/generate/land-manifest.js';
import { loadMysqlDump } from '../../src/generate/load-mysql.js';
import { Random } from '../../src/generate/random.js';
import { makeInn10 } from '../../src/generate/requisites.js';
import { importSnapshot } from '../../src/registry/snapshot.js';
import { runCli, startCli, type CliResult } from '../helpers/cli.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { BROKERS, createTopic, kafkaAvailable } from '../helpers/kafka.js';
import { createTestMysql, mysqlAvailable, type TestMysql } from '../helpers/mysql.js';
import { makeSample } from '../helpers/sample.js';
import { testPortal, type TestPortal } from '../crm/helpers.js';

// Several `b2b-etl worker` processes against one database share the load: two of them run each
// scheduled store A sync once and never two at once, share the partitions of store B's topic
// (every event landed once), and push to the portal one at a time. The one that pushes, stopped
// with SIGTERM, finishes what is in flight, gives its jobs back and leaves the group; the other
// takes over its partitions and the push at once. Neither they nor a push someone runs by hand
// meanwhile ever go over the portal's request bucket: they share one limiter in PostgreSQL.

const available = (await kafkaAvailable()) && (await mysqlAvailable());

/** The portal's bucket, small, so that a push of a few hundred companies is paced by it for many seconds. */
const BUCKET = { size: 5, drainPerSecond: 2 };

interface Worker {
  name: string;
  /** Its config file. */
  config: string;
  pid: number;
  port: number;
  stderr(): string;
  exited(): boolean;
  stop(signal: NodeJS.Signals): Promise<CliResult>;
}

describe.skipIf(!available)('two workers', () => {
  let db: TestDatabase;
  let my: TestMysql;
  let portal: TestPortal;
  let topic: string;
  let groupId: string;
  let admin: Admin;
  const kafka = new Kafka({ clientId: 'b2b-etl-tests', brokers: BROKERS, logLevel: logLevel.NOTHING });
  const workers: Worker[] = [];
  /** store A's sync held inside MySQL (a table lock) until the test lets it go. */
  let locker: mysql.Connection | null = null;
  let watch: SyncWatch;
  /** The minute whose sync the workers missed (they start after it), and the next one, which they schedule. */
  let missed: number;
  let next: number;
  const inns: string[] = [];
  const occurred = new Date().toISOString();

  const until = async (what: string, check: () => Promise<boolean>, seconds: number) => {
    for (let i = 0; i < seconds * 4; i++) {
      if (await check()) return;
      for (const w of workers) if (w.exited() && !w.name.endsWith('(stopped)')) throw new Error(`worker ${w.name} exited while waiting until ${what}: ${w.stderr().slice(-3000)}`);
      await sleep(250);
    }
    throw new Error(`waited ${seconds}s until ${what}; the workers said:\n${workers.map((w) => `${w.name}: ${w.stderr().slice(-2000)}`).join('\n')}`);
  };
  const eventsLanded = async () => Number(await db.value('select count(*) from staging.kafka_message where topic = $1', [topic]));
  const inPortal = async (some: string[]) => (await portal.db.query<{ inn: string; n: number }>(
    `select fields ->> 'RQ_INN' as inn, count(*)::int as n from requisite where fields ->> 'RQ_INN' = any($1) group by 1`, [some])).rows;
  /** Each member of the group and the partitions of the topic it holds. */
  const members = async () => {
    const { groups } = await admin.describeGroups([groupId]);
    const group = groups[0]!;
    return {
      state: group.state,
      partitions: group.members.map((m) => (AssignerProtocol.MemberAssignment.decode(m.memberAssignment)?.assignment[topic] ?? []).slice().sort((a, b) => a - b)),
    };
  };

  beforeAll(async () => {
    const sample = await makeSample({ scale: 'small', seed: 37, companies: 20, contacts: 40, storeACompanies: 30, storeAContacts: 40, events: 0 });
    db = await createTestDatabase();
    my = await createTestMysql();
    await loadMysqlDump(my.url, join(sample.dir, STORE_A_DUMP));
    await importSnapshot(db.pool, join(sample.dir, REGISTRY_SNAPSHOT));
    await useSampleWindow(db.pool, sample.truth.window_start);
    portal = await testPortal(db, { bucket: BUCKET });
    topic = await createTopic(4);
    groupId = `workers-${topic}`;
    admin = kafka.admin();
    await admin.connect();
    // the companies store B's events will bring, all active in the registry
    const r = new Random(41);
    while (inns.length < 230) {
      const inn = makeInn10(r);
      if (!inns.includes(inn)) inns.push(inn);
    }
    await db.pool.query(`insert into etl.registry_snapshot (inn, status, full_name, short_name, source_file)
      select inn, 'ACTIVE', 'ООО «Воркер ' || n || '»', 'ООО «Воркер ' || n || '»', 'test' from unnest($1::text[]) with ordinality as t (inn, n)
      on conflict (inn) do nothing`, [inns]);

    // The workers start after this minute's sync time: as the schedule's record in the queue
    // says, the run before it was the last one, so this minute's run was missed and a worker
    // starting runs it (once, a day back at most). A start close to the next minute would
    // miss two; it waits for that minute instead.
    if (Date.now() % 60_000 > 40_000) await sleep(61_000 - (Date.now() % 60_000));
    missed = Date.now() - (Date.now() % 60_000);
    next = missed + 60_000;
    await db.pool.query(`insert into graphile_worker._private_known_crontabs (identifier, known_since, last_execution) values ('land_mysql:store_a', $1, $1)`,
      [new Date(missed - 60_000)]);
    // the sync that starts stays inside MySQL until the test unlocks the table: it is still
    // running when the next minute's run is due
    locker = await mysql.createConnection({ uri: my.url });
    await locker.query('LOCK TABLES companies WRITE');
    watch = new SyncWatch(db, my.url, [await connectionId(locker), Number(((await my.query('select connection_id() as id')) as Array<{ id: number }>)[0]!.id)]);
    await watch.start();

    for (const name of ['one', 'two']) workers.push(startWorker(name));
    await until('both workers serve /healthz', async () => {
      const codes = await Promise.all(workers.map((w) => fetch(`http://127.0.0.1:${w.port}/healthz`).then((res) => res.status, () => 0)));
      return codes.every((c) => c === 200);
    }, 60);
  });

  afterAll(async () => {
    for (const w of workers) if (!w.exited()) await w.stop('SIGKILL');
    await watch?.stop();
    await locker?.end().catch(() => {});
    await admin?.disconnect();
    await portal?.stop();
    await my?.drop();
    await db?.drop();
  });

  function startWorker(name: string): Worker {
    const port = 20000 + Math.floor(Math.random() * 20000);
    const config = join(tmpdir(), `b2b-etl-workers-${process.pid}-${name}.json`);
    writeFileSync(config, JSON.stringify({
      sources: { store_a: { mysql: { textEncoding: 'cp1251' } }, store_b_events: { kafka: { topic, groupId } } },
      registry: { provider: 'snapshot', rps: 1000, concurrency: 8 },
      // ten companies at a time: a push is many requests, paced by the bucket
      crm: { caFile: portal.sandbox.certFile, bucketSize: BUCKET.size, drain: BUCKET.drainPerSecond, settleSeconds: 0.2, chunk: 10 },
      worker: { sync: { store_a: '* * * * *' }, pushSweep: '* * * * *', concurrency: 4, port },
    }));
    const run = startCli(['worker'], db.url, {
      B2B_ETL_CONFIG: config, MYSQL_URL: my.url, KAFKA_BROKERS: BROKERS.join(','), BITRIX24_WEBHOOK_URL: portal.sandbox.webhookUrl,
    });
    let stderr = '';
    run.child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const worker: Worker = {
      name, config, pid: run.child.pid!, port,
      stderr: () => stderr,
      exited: () => run.child.exitCode !== null || run.child.signalCode !== null,
      async stop(signal) {
        worker.name = `${name} (stopped)`;
        run.child.kill(signal);
        return run.done;
      },
    };
    return worker;
  }

  /** Events for the companies from..to (each event the same bytes whenever it is sent), at once or perSecond. */
  async function produce(from: number, to: number, perSecond?: number): Promise<void> {
    const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner, allowAutoTopicCreation: false });
    await producer.connect();
    try {
      const step = perSecond ? Math.max(1, Math.round(perSecond / 10)) : to - from;
      for (let i = from; i < to; i += step) {
        await producer.send({
          topic, messages: inns.slice(i, Math.min(i + step, to)).map((inn, k) => {
            const id = `B-W-${i + k}`;
            return { key: id, value: JSON.stringify({ event: 'company.upserted', occurred_at: occurred, data: { id, inn, title: `ООО «Воркер ${i + k}»`, updated: occurred } }) };
          }),
        });
        if (perSecond) await sleep(100);
      }
    } finally {
      await producer.disconnect();
    }
  }

  it('share the partitions of store B\'s topic: each holds some, and every event lands once', async () => {
    await until('both workers hold partitions of the topic', async () => {
      const group = await members();
      return group.state === 'Stable' && group.partitions.length === 2 && group.partitions.every((p) => p.length > 0);
    }, 60);
    const group = await members();
    expect(group.partitions.flat().sort((a, b) => a - b)).toEqual([0, 1, 2, 3]);
    await produce(0, 80);
    await until('the 80 events landed', async () => (await eventsLanded()) >= 80, 30);
    // by the two of them: the partitions stayed with them, and each partition got events
    expect(await members()).toEqual(group);
    // every partition got events, and every event is one row (the provenance is keyed by partition and offset)
    const byPartition = await db.rows<{ partition: number; n: number; offsets: number }>(
      `select partition, count(*)::int as n, (max("offset") - min("offset") + 1)::int as offsets from staging.kafka_message where topic = $1 group by partition order by partition`, [topic]);
    expect(byPartition.map((p) => p.partition)).toEqual([0, 1, 2, 3]);
    expect(byPartition.every((p) => p.n === p.offsets)).toBe(true);
    expect(byPartition.reduce((n, p) => n + p.n, 0)).toBe(80);
    expect(Number(await db.value(`select count(distinct source_key) from staging.kafka_message where topic = $1`, [topic]))).toBe(80);
  });

  it('run each scheduled store A sync once, and never two at once, even when a sync is still running as the next one is due', async () => {
    // the missed run started and sits in MySQL; the next minute's run comes due meanwhile
    await until('the missed sync is running', async () => watch.running().length === 1, 30);
    try {
      const wait = next + 5_000 - Date.now();
      if (wait > 0) await sleep(wait);
      expect(watch.jobs.get(new Date(next).toISOString()), 'the next minute\'s run is queued').toBeDefined();
      expect(watch.running().length).toBe(1);
    } finally {
      await locker!.query('UNLOCK TABLES');
    }
    const runs = () => workers.flatMap((w) => w.stderr().match(/land_mysql store_a: companies \d+ rows read/g) ?? []);
    await until('both syncs finished', async () => runs().length >= 2 && Number(await db.value(`select count(*) from graphile_worker.jobs where task_identifier = 'land_mysql'`)) === 0, 60);
    await sleep(1000);
    // each scheduled time is one job, run once; two workers scheduled them, one ran each
    expect([...watch.jobs.keys()].sort()).toEqual([new Date(missed).toISOString(), new Date(next).toISOString()]);
    expect([...watch.jobs.values()].map((j) => j.ids.size)).toEqual([1, 1]);
    expect(runs()).toHaveLength(2);
    // never two at once: in the queue (jobs locked) and at MySQL (connections of the sync)
    expect(watch.mostLocked).toBe(1);
    expect(watch.mostConnections).toBe(1);
    expect(watch.samples).toBeGreaterThan(50); // it looked all along
  });

  it('when the one that pushes is stopped with SIGTERM, it finishes what is in flight, gives its jobs back and leaves the group; the other takes over its partitions and the push; together with a push by hand they never exceed the portal\'s bucket', async () => {
    await produce(80, 230);
    await until('the 230 events landed', async () => (await eventsLanded()) >= 230, 30);
    // the worker that holds the push job, when the push has begun
    let pusher: Worker | undefined;
    await until('a worker pushes the new companies', async () => {
      const { rows } = await db.pool.query<{ pid: number }>(
        `select p.pid from graphile_worker.jobs j join etl.worker_process p on j.locked_by = any (p.worker_ids)
         where j.task_identifier = 'crm_push' and j.locked_at is not null`);
      pusher = workers.find((w) => w.pid === rows[0]?.pid);
      return pusher !== undefined && (await inPortal(inns.slice(80, 230))).length > 0;
    }, 60);
    const other = workers.find((w) => w !== pusher)!;
    const jobIds = (await db.rows<{ worker_ids: string[] }>('select worker_ids from etl.worker_process where pid = $1', [pusher!.pid]))[0]!.worker_ids;
    expect(jobIds.length).toBeGreaterThan(0);
    // events keep coming while it stops (the shop sends the first 60 again: they land, and change nothing)
    const streaming = produce(0, 60, 20);
    await sleep(500);
    const stopped = await pusher!.stop('SIGTERM');
    // and a person pushes by hand meanwhile, in a process of their own
    const byHand = runCli(['push', '--progress-seconds', '0'], db.url, {
      B2B_ETL_CONFIG: other.config, BITRIX24_WEBHOOK_URL: portal.sandbox.webhookUrl,
    });
    await streaming;
    expect(stopped.code, stopped.stderr).toBe(0);
    expect(stopped.stderr).toMatch(/worker: SIGTERM: finishing the batches and jobs in flight/);
    expect(stopped.stderr).toMatch(/crm_push to \S+: the worker stopped it before it was done; what is left is queued, due now/);
    // its jobs are given back, not left locked until it is taken for dead
    expect(Number(await db.value(`select count(*) from graphile_worker.jobs where locked_by = any ($1)`, [jobIds]))).toBe(0);
    expect(Number(await db.value('select count(*) from etl.worker_process where pid = $1', [pusher!.pid]))).toBe(0);

    // the other worker holds every partition and lands the rest, each message once
    await until('the other worker holds every partition', async () => {
      const group = await members();
      return group.state === 'Stable' && group.partitions.length === 1 && group.partitions[0]!.length === 4;
    }, 60);
    await until('every event landed', async () => (await eventsLanded()) >= 290, 60);
    await sleep(1000);
    expect(await eventsLanded()).toBe(290);
    const ends = await admin.fetchTopicOffsets(topic);
    const stored = new Map((await db.rows<{ partition: number; next_offset: string }>('select partition, next_offset from etl.kafka_offset where topic = $1', [topic]))
      .map((r) => [r.partition, r.next_offset]));
    for (const end of ends) expect(stored.get(end.partition), `partition ${end.partition}`).toBe(end.high);

    // the push the stopped worker left is taken up at once by the other; every company is in the portal once
    const hand = await byHand;
    expect(hand.code, hand.stderr).toBe(0);
    const handRun = Number(/push run (\d+)/.exec(hand.stdout)?.[1]);
    const workerRuns = () => db.rows<{ run_id: number; started: number; finished: number | null; stopped: boolean }>(
      `select run_id::int, extract(epoch from started_at)::float8 as started, extract(epoch from finished_at)::float8 as finished,
              coalesce((stats ->> 'stopped')::boolean, false) as stopped
       from etl.crm_push_run where run_id <> $1 order by run_id`, [handRun]);
    await until('the other worker has taken up the stopped push', async () => {
      const runs = await workerRuns();
      const cut = runs.findIndex((r) => r.stopped);
      return cut >= 0 && runs.slice(cut + 1).some((r) => r.finished !== null);
    }, 90);
    await until('every company is in the portal', async () => (await inPortal(inns.slice(0, 230))).length === 230, 60);
    expect((await inPortal(inns.slice(0, 230))).every((r) => r.n === 1)).toBe(true);
    const runs = await workerRuns();
    const cut = runs.findIndex((r) => r.stopped);
    expect(runs[cut + 1]!.started - runs[cut]!.finished!, JSON.stringify(runs)).toBeLessThan(10);
    // the workers' pushes to the portal came one at a time (its queue)
    for (let i = 1; i < runs.length; i++) expect(runs[i]!.started, JSON.stringify(runs)).toBeGreaterThanOrEqual(runs[i - 1]!.finished!);

    // the portal never refused a request for its bucket, though the pushes kept it busy
    const calls = await portal.sandbox.calls();
    const refused = calls.filter((c) => c.status === 503 || c.error === 'QUERY_LIMIT_EXCEEDED');
    expect(refused.map((c) => `${c.at.toISOString()} ${c.method}: ${c.error}`)).toEqual([]);
    expect(calls.length).toBeGreaterThan(BUCKET.size * 6);
  });
});

async function connectionId(c: mysql.Connection): Promise<number> {
  const [rows] = await c.query('select connection_id() as id');
  return Number((rows as Array<{ id: number }>)[0]!.id);
}

/**
 * Looks every 100 ms at the store A sync from both sides: its jobs in the queue (each
 * scheduled time, the job ids that carried it, how many were locked at once) and its
 * connections to MySQL (how many at once).
 */
class SyncWatch {
  readonly jobs = new Map<string, { ids: Set<string> }>();
  mostLocked = 0;
  mostConnections = 0;
  samples = 0;
  private connections: Array<{ id: number; info: string | null }> = [];
  private stopped = false;
  private loop: Promise<void> | null = null;
  private mysql: mysql.Connection | null = null;

  constructor(private readonly db: TestDatabase, private readonly url: string, private readonly ignored: number[]) {}

  running() {
    return this.connections;
  }

  async start(): Promise<void> {
    this.mysql = await mysql.createConnection({ uri: this.url });
    this.loop = (async () => {
      while (!this.stopped) {
        await this.sample();
        await sleep(100);
      }
    })();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop?.catch(() => {});
    await this.mysql?.end().catch(() => {});
  }

  private async sample(): Promise<void> {
    // a scheduled job is due at its scheduled time
    const { rows } = await this.db.pool.query<{ id: string; run_at: Date; locked: boolean }>(
      `select id::text, run_at, locked_at is not null as locked from graphile_worker.jobs where task_identifier = 'land_mysql'`);
    for (const job of rows) {
      const at = job.run_at.toISOString();
      const seen = this.jobs.get(at) ?? { ids: new Set<string>() };
      seen.ids.add(job.id);
      this.jobs.set(at, seen);
    }
    this.mostLocked = Math.max(this.mostLocked, rows.filter((j) => j.locked).length);
    const [connections] = await this.mysql!.query(
      'select id, info from information_schema.processlist where db = database() and id <> connection_id() and not id in (?)', [this.ignored]);
    this.connections = connections as Array<{ id: number; info: string | null }>;
    this.mostConnections = Math.max(this.mostConnections, this.connections.length);
    this.samples += 1;
  }
}
