// How soon a change on store B's topic is in canonical and in the Bitrix24 portal, at 500
// events per second of the kinds a live feed carries: new companies, updates of companies,
// second records of a company under its INN (merges), new contacts and updates of contacts.
//  1. canonical: a database of this run holding store B's seed files, transformed; the
//     consumer lands the events and runs the transform jobs its landings queue.
//  2. portal: `b2b-etl worker` on a database of this run with no backlog, the registry
//     knowing the new INNs, and a sandbox portal of the enterprise plan: from the event to
//     canonical and to the portal.
// Prints figures against the targets (p95 under 1 s to canonical; the portal a few seconds
// later); asserts nothing. Drops only the databases it created.
// Usage: DATABASE_URL=... KAFKA_BROKERS=127.0.0.1:9092 npx tsx bench/latency.ts [canonical|portal] [--seconds 40] [--rate 500]
import { spawn } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Kafka, logLevel, Partitioners, type Message } from 'kafkajs';
import pg from 'pg';
import { kafkaSource } from '../src/config.js';
import { projectRoot } from '../src/db/paths.js';
import { landManifest, useSampleWindow } from '../src/generate/land-manifest.js';
import { Random } from '../src/generate/random.js';
import { makeInn10 } from '../src/generate/requisites.js';
import { KafkaConsumer } from '../src/land/kafka.js';
import { startSandbox } from '../src/sandbox/index.js';
import { runTransform } from '../src/transform/run.js';
import { benchPool, dropRunDatabases, freshDatabase, newTopic, OUT, sampleFigures, seconds, timed } from './common.js';

const brokers = (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(',');
const kafka = new Kafka({ clientId: 'b2b-etl-bench-latency', brokers, logLevel: logLevel.NOTHING });
const which = process.argv[2] ?? 'all';
const secondsArg = process.argv.indexOf('--seconds');
const duration = secondsArg > 0 ? Number(process.argv[secondsArg + 1]) : 40;
const rateArg = process.argv.indexOf('--rate');
/** Events per second (the issue's 500 by default); a tick of PER_TICK events every TICK_MS. */
const RATE = rateArg > 0 ? Number(process.argv[rateArg + 1]) : 500;
const PER_TICK = 50;
const TICK_MS = (1000 * PER_TICK) / RATE;
const TICKS = Math.round((duration * 1000) / TICK_MS);
const TARGET_CANONICAL_P95_MS = 1000;

type Kind = 'new company' | 'company update' | 'merge' | 'new contact' | 'contact update';
/** One event sent, and how to see it arrived: its record's key and the name it carries. */
interface Sent { kind: Kind; entity: 'company' | 'contact'; key: string; name: string; inn?: string; at: number; seq: number }

/** Every event sent, by the name it carries (names are unique): a record showing a later event's name shows the earlier one's arrived too. */
const byName = new Map<string, Sent>();

/** Whether a record's current name shows `s` has arrived: its own name, or that of a later event of the same record. */
const shows = (s: Sent, current: string | undefined) => {
  const now = current === undefined ? undefined : byName.get(current);
  return now !== undefined && now.key === s.key && now.entity === s.entity && now.seq >= s.seq;
};

/** 50 events a tick: 10 new companies, 10 updates, 5 merges, 20 new contacts, 5 contact updates. */
class EventMix {
  private n = 0;
  private readonly r = new Random(99);
  private readonly companies: Array<{ key: string; inn: string }> = [];
  private readonly contacts: Array<{ key: string; company: string }> = [];

  constructor(private readonly taken: Set<string>, base: Array<{ key: string; inn: string }>) {
    this.companies.push(...base);
  }

  /** One tick's events: PER_TICK of them. */
  tick(): { messages: Message[]; sent: Sent[] } {
    const messages: Message[] = [];
    const sent: Sent[] = [];
    const at = new Date().toISOString();
    const company = (kind: Kind, key: string, inn: string) => {
      const name = `ООО Задержка ${++this.n}`;
      messages.push({ key, value: JSON.stringify({ event: 'company.upserted', occurred_at: at, data: { id: key, inn, title: name, phones: ['+7 495 100 00 00'], updated: at } }) });
      sent.push({ kind, entity: 'company', key, name, inn, at: 0, seq: this.n });
    };
    const contact = (kind: Kind, key: string, companyKey: string) => {
      const last = `Задержкин${++this.n}`;
      messages.push({ key, value: JSON.stringify({ event: 'contact.upserted', occurred_at: at, data: {
        id: key, company_id: companyKey, name: { last, first: 'Иван', middle: 'Петрович' }, position: 'Директор',
        phones: [`+7 916 ${String(1000000 + this.n).slice(-7)}`], email: `lat${this.n}@example.ru`, updated: at } }) });
      sent.push({ kind, entity: 'contact', key, name: last, at: 0, seq: this.n });
    };
    for (let i = 0; i < 10; i++) {
      const key = `LAT-${this.n + 1}`;
      const inn = this.newInn();
      company('new company', key, inn);
      this.companies.push({ key, inn });
    }
    for (let i = 0; i < 10; i++) {
      const c = this.r.pick(this.companies);
      company('company update', c.key, c.inn);
    }
    for (let i = 0; i < 5; i++) {
      const c = this.r.pick(this.companies);
      company('merge', `LAT-M-${this.n + 1}`, c.inn);
    }
    for (let i = 0; i < 20; i++) {
      const c = this.r.pick(this.companies);
      const key = `LAT-P-${this.n + 1}`;
      contact('new contact', key, c.key);
      this.contacts.push({ key, company: c.key });
    }
    for (let i = 0; i < 5; i++) {
      const p = this.r.pick(this.contacts);
      contact('contact update', p.key, p.company);
    }
    if (messages.length !== PER_TICK) throw new Error(`a tick of ${messages.length} events, not ${PER_TICK}`);
    return { messages, sent };
  }

  /** The INNs of the new companies, for a registry that knows them. */
  newInns(count: number): string[] {
    const inns: string[] = [];
    for (let i = 0; i < count; i++) inns.push(this.newInn());
    return inns;
  }

  private readonly planned: string[] = [];
  plan(inns: string[]): void {
    this.planned.push(...inns);
  }

  private newInn(): string {
    const planned = this.planned.shift();
    if (planned) return planned;
    let inn = makeInn10(this.r);
    while (this.taken.has(inn)) inn = makeInn10(this.r);
    this.taken.add(inn);
    return inn;
  }
}

/**
 * Produces the mix at 500 events/s for `duration` seconds and watches `arrived` for each event
 * (polling every 50 ms); returns per event its latency in ms, or null when it never arrived
 * within 60 s after the last was sent.
 */
async function stream(topic: string, mix: EventMix, watchers: Array<(pending: Sent[]) => Promise<Set<Sent>>>): Promise<{ sent: Sent[]; latencies: Array<Array<number | null>> }> {
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  byName.clear();
  const all: Sent[] = [];
  const pending = watchers.map(() => new Set<Sent>());
  const latency = watchers.map(() => new Map<Sent, number>());
  let sending = true;
  // each watcher polls on its own: a slow look at the portal does not space out the looks at canonical
  const watch = Promise.all(watchers.map(async (check, w) => {
    const deadline = () => !sending && Date.now() > lastSent + 60_000;
    while (sending || pending[w]!.size > 0) {
      if (deadline()) break;
      if (pending[w]!.size > 0) {
        const seen = await check([...pending[w]!]);
        const now = Date.now();
        for (const s of seen) {
          pending[w]!.delete(s);
          latency[w]!.set(s, now - s.at);
        }
      }
      await new Promise((res) => setTimeout(res, 50));
    }
  }));
  let lastSent = Date.now();
  const start = Date.now();
  for (let tick = 0; tick < TICKS; tick++) {
    const { messages, sent } = mix.tick();
    const at = Date.now();
    for (const s of sent) {
      s.at = at;
      all.push(s);
      byName.set(s.name, s);
    }
    await producer.send({ topic, messages });
    // an event is watched once it is sent; an update waits for the version it carries
    for (const p of pending) for (const s of sent) p.add(s);
    lastSent = Date.now();
    const wait = start + (tick + 1) * TICK_MS - Date.now();
    if (wait > 0) await new Promise((res) => setTimeout(res, wait));
  }
  const sentSeconds = (Date.now() - start) / 1000;
  sending = false;
  await watch;
  await producer.disconnect();
  console.log(`produced ${all.length} events at ${Math.round(all.length / sentSeconds)}/s for ${seconds(sentSeconds)}`);
  return { sent: all, latencies: latency.map((l) => all.map((s) => l.get(s) ?? null)) };
}

/** p50/p95/p99/max of the latencies that arrived, and how many did not. */
function describe(label: string, sent: Sent[], latencies: Array<number | null>, target: string): void {
  const kinds = [...new Set(sent.map((s) => s.kind))];
  const line = (name: string, values: Array<number | null>) => {
    const got = values.filter((v): v is number => v !== null).sort((a, b) => a - b);
    const pct = (p: number) => got[Math.min(got.length - 1, Math.floor((p / 100) * got.length))] ?? NaN;
    return `${name}: ${got.length} arrived${values.length > got.length ? ` (${values.length - got.length} did not within 60 s)` : ''}, ` +
      `p50 ${pct(50)} ms, p95 ${pct(95)} ms, p99 ${pct(99)} ms, max ${got[got.length - 1] ?? NaN} ms`;
  };
  console.log(`${label} — ${line('all events', latencies)} (${target})`);
  for (const kind of kinds) console.log(`  ${line(kind, latencies.filter((_, i) => sent[i]!.kind === kind))}`);
}

/** Which of the pending events the clean base shows: a company's or contact's source row carrying the name the event sent. */
function canonicalWatcher(pool: pg.Pool) {
  return async (pending: Sent[]): Promise<Set<Sent>> => {
    const seen = new Set<Sent>();
    for (const entity of ['company', 'contact'] as const) {
      const wanted = pending.filter((s) => s.entity === entity);
      if (wanted.length === 0) continue;
      const { rows } = await pool.query<{ source_key: string; name: string }>(entity === 'company'
        ? `select source_key, name from etl.source_company where source = 'store_b' and source_key = any($1)`
        : `select source_key, last_name as name from etl.source_contact where source = 'store_b' and source_key = any($1)`,
      [[...new Set(wanted.map((s) => s.key))]]);
      const now = new Map(rows.map((r) => [r.source_key, r.name]));
      for (const s of wanted) if (shows(s, now.get(s.key))) seen.add(s);
    }
    return seen;
  };
}


try {
  if (which === 'all' || which === 'canonical') {
    const sample = await sampleFigures('seed-live', { scale: 'seed', seed: 1 }, (truth) => ({ windowStart: truth.window_start }));
    const url = await freshDatabase('b2b_etl_bench_latency_canonical');
    const pool = benchPool(url, 6);
    await useSampleWindow(pool, sample.figures.windowStart);
    const [, prepSeconds] = await timed(async () => {
      await landManifest(pool, sample.dir, sample.manifest.filter((f) => f.source === 'store_b'), { quiet: true });
      await pool.query('analyze staging.record');
      await runTransform(pool);
    });
    const base = (await pool.query<{ key: string; inn: string }>(
      `select source_key as key, inn from etl.source_company where source = 'store_b' and is_accepted and not is_deleted order by source_key limit 20000`)).rows;
    const { rows: size } = await pool.query<{ n: string }>('select count(*) as n from canonical.company');
    console.log(`canonical: store B's seed files landed and transformed (${size[0]!.n} canonical companies) in ${seconds(prepSeconds)}`);
    const taken = new Set((await pool.query<{ inn: string }>('select inn from canonical.company')).rows.map((row) => row.inn));
    const topic = await newTopic(kafka, 'bench-latency', 3);
    const consumer = new KafkaConsumer(pool, { brokers, source: 'store_b_events', config: { ...kafkaSource({ sources: {} }, 'store_b_events'), topic, groupId: `bench-${topic}` } });
    await consumer.start();
    const mix = new EventMix(taken, base);
    const streamStarted = Date.now();
    const { sent, latencies: [toCanonical] } = await stream(topic, mix, [canonicalWatcher(pool)]);
    await consumer.stop();
    const runs = (await pool.query<{ s: string }>(`select extract(epoch from finished_at - started_at) as s from etl.run where kind = 'incremental' and started_at >= $1 order by run_id`,
      [new Date(streamStarted)])).rows.map((r) => Number(r.s)).sort((a, b) => a - b);
    describe('event → canonical', sent, toCanonical!, `target p95 < ${TARGET_CANONICAL_P95_MS} ms`);
    console.log(`incremental transform runs: ${runs.length}, median ${(runs[Math.floor(runs.length / 2)] ?? 0).toFixed(2)} s, ` +
      `p95 ${(runs[Math.floor(runs.length * 0.95)] ?? 0).toFixed(2)} s, max ${(runs[runs.length - 1] ?? 0).toFixed(2)} s`);
    await pool.end();
  }

  if (which === 'all' || which === 'portal') {
    const url = await freshDatabase('b2b_etl_bench_latency_portal');
    const pool = benchPool(url, 6);
    const sandbox = await startSandbox({ databaseUrl: url, schema: 'bench_portal', plan: 'enterprise', operating: { importItemSeconds: 0.001 }, log: () => {} });
    const topic = await newTopic(kafka, 'bench-latency-portal', 3);
    const mix = new EventMix(new Set(), []);
    // the registry knows every company the stream creates as active
    const inns = mix.newInns(TICKS * 10);
    mix.plan(inns);
    await pool.query(`insert into etl.registry_snapshot (inn, status, full_name, short_name, source_file)
      select inn, 'ACTIVE', 'ООО Задержка', 'ООО Задержка', 'bench' from unnest($1::text[]) inn`, [inns]);
    const config = join(OUT, `latency-worker-${process.pid}.json`);
    writeFileSync(config, JSON.stringify({
      sources: { store_b_events: { kafka: { topic, groupId: `bench-${topic}` } } },
      registry: { provider: 'snapshot', rps: 1000, concurrency: 16 },
      crm: { caFile: sandbox.certFile, plan: 'enterprise', settleSeconds: 0.5 },
      worker: { sync: {}, port: 0 },
    }));
    const worker = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'worker'], {
      cwd: projectRoot(), stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, DATABASE_URL: url, B2B_ETL_CONFIG: config, KAFKA_BROKERS: brokers.join(','), BITRIX24_WEBHOOK_URL: sandbox.webhookUrl },
    });
    let said = '';
    worker.stderr.on('data', (d: Buffer) => { said = (said + d.toString()).slice(-20_000); });
    const portalDb = new pg.Pool({ connectionString: url, max: 2, options: '-c search_path=bench_portal' });
    try {
      // the worker is up when its consumer group is stable with a member
      const admin = kafka.admin();
      await admin.connect();
      for (let i = 0; ; i++) {
        const { groups: [group] } = await admin.describeGroups([`bench-${topic}`]);
        if (group?.state === 'Stable' && group.members.length > 0) break;
        if (i > 240 || worker.exitCode !== null) throw new Error(`the worker did not join the group within 120 s: ${said.slice(-3000)}`);
        await new Promise((r) => setTimeout(r, 500));
      }
      await admin.disconnect();
      const inPortal = async (pending: Sent[]): Promise<Set<Sent>> => {
        // a new company is in the portal once a requisite carries its INN (the CRM names it
        // as the registry does, so its title says nothing of the event); a contact shows the
        // name one of the stream's events gave it
        const { rows: requisites } = await portalDb.query<{ inn: string }>(
          `select fields ->> 'RQ_INN' as inn from requisite where fields ->> 'RQ_INN' = any($1)`,
          [pending.filter((s) => s.kind === 'new company').map((s) => s.inn)]);
        const inns = new Set(requisites.map((r) => r.inn));
        const { rows } = await portalDb.query<{ name: string }>(
          `select fields ->> 'LAST_NAME' as name from contact where fields ->> 'LAST_NAME' like 'Задержкин%'`);
        const current = new Map<string, string>();
        for (const r of rows) {
          const s = byName.get(r.name);
          if (s) current.set(`${s.entity}:${s.key}`, r.name);
        }
        for (const s of pending) if (s.kind === 'new company' && inns.has(s.inn!)) current.set(`company:${s.key}`, s.name);
        return new Set(pending.filter((s) => shows(s, current.get(`${s.entity}:${s.key}`))));
      };
      const { sent, latencies: [toCanonical, toPortal] } = await stream(topic, mix, [canonicalWatcher(pool), inPortal]);
      // a merge and a company's new title change no field of the portal (the CRM keeps the
      // registry's name): measured to canonical only
      const portalKinds = sent.map((s) => s.kind !== 'merge' && s.kind !== 'company update');
      describe(`event → canonical (worker, ${RATE} events/s)`, sent, toCanonical!, `target p95 < ${TARGET_CANONICAL_P95_MS} ms`);
      describe(`event → portal (worker, ${RATE} events/s)`, sent.filter((_, i) => portalKinds[i]), toPortal!.filter((_, i) => portalKinds[i]), 'target: a few seconds after canonical');
    } finally {
      worker.kill('SIGTERM');
      await new Promise((r) => worker.once('exit', r));
      await portalDb.end();
      await sandbox.stop();
      await pool.end();
      rmSync(config, { force: true });
    }
  }
} finally {
  await dropRunDatabases();
}
