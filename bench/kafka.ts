// Store B's live changes, one run on this machine against the real broker:
//  1. kcat (a third-party producer) produces the 600 000 seed events into a fresh topic;
//     the consumer lands them all (no transform): messages per second landed.
//  2. On a database holding store B's seed files, transformed: events produced at a steady
//     500 messages per second for 40 s; latency from produce to the canonical row, p50/p95.
// Prints figures; asserts nothing.
// Usage: DATABASE_URL=... KAFKA_BROKERS=127.0.0.1:9092 node dist/bench/kafka.js [throughput|latency]
import { execFileSync } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { join } from 'node:path';
import { Kafka, logLevel, Partitioners } from 'kafkajs';
import pg from 'pg';
import { kafkaSource, type KafkaSourceConfig } from '../src/config.js';
import { KafkaConsumer } from '../src/land/kafka.js';
import { eventKey, readEventLines } from '../src/generate/events.js';
import { STORE_B_EVENTS } from '../src/generate/index.js';
import { landManifest, useSampleWindow } from '../src/generate/land-manifest.js';
import { makeInn10 } from '../src/generate/requisites.js';
import { Random } from '../src/generate/random.js';
import { runTransform } from '../src/transform/run.js';
import { freshDatabase, OUT, readyToTime, sampleFigures, seconds, timed } from './common.js';

const brokers = (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(',');
const kafka = new Kafka({ clientId: 'b2b-etl-bench', brokers, logLevel: logLevel.NOTHING });
const which = process.argv[2] ?? 'all';
const sample = await sampleFigures('seed-live', { scale: 'seed', seed: 1 }, (truth) => ({
  messages: truth.store_b_events.messages,
  windowStart: truth.window_start,
}));

async function newTopic(name: string, partitions: number): Promise<string> {
  const topic = `${name}-${Date.now()}`;
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: partitions }], waitForLeaders: true });
  await admin.disconnect();
  return topic;
}

function config(topic: string, over: Partial<KafkaSourceConfig> = {}): KafkaSourceConfig {
  return { ...kafkaSource({ sources: {} }, 'store_b_events'), topic, groupId: `bench-${topic}`, ...over };
}

if (which === 'all' || which === 'throughput') {
  // kcat reads "key<TAB>value" lines; the key is the record id, as store B keys its topic
  const keyed = join(OUT, 'seed-live-events.kcat');
  {
    const out = createWriteStream(keyed);
    for (const line of readEventLines(join(sample.dir, STORE_B_EVENTS))) {
      out.write(Buffer.concat([Buffer.from(`${eventKey(line.toString('latin1')) ?? ''}\t`), line, Buffer.from('\n')]));
    }
    out.end();
    await once(out, 'finish');
  }
  const total = sample.figures.messages;
  const topic = await newTopic('bench-events', 3);
  const kcatVersion = execFileSync('kcat', ['-V']).toString().split('\n')[0];
  const [, produceSeconds] = await timed(async () => {
    execFileSync('kcat', ['-P', '-b', brokers.join(','), '-t', topic, '-K', '\t', '-l', keyed], { stdio: 'inherit' });
  });
  console.log(`${kcatVersion}: produced ${total} events into ${topic} (3 partitions) in ${seconds(produceSeconds)}`);

  const url = await freshDatabase('b2b_etl_bench_kafka');
  const pool = new pg.Pool({ connectionString: url, max: 4 });
  const consumer = new KafkaConsumer(pool, { brokers, source: 'store_b_events', config: config(topic), transform: false, log: console.error });
  readyToTime(url);
  const started = Date.now();
  await consumer.start();
  while (consumer.stats.messages < total) await new Promise((r) => setTimeout(r, 20));
  const landSeconds = (Date.now() - started) / 1000;
  await consumer.stop();
  const { rows } = await pool.query<{ n: string }>('select count(*) as n from staging.kafka_message');
  console.log(`consumer landed ${rows[0]!.n} messages (${consumer.stats.landed} new versions, ${consumer.stats.unparseable} unparseable, ` +
    `${consumer.stats.cp1251} cp1251) in ${consumer.stats.batches} batches in ${seconds(landSeconds)}: ` +
    `${Math.round(total / landSeconds)} messages/s (target ≥ 20 000)`);
  await pool.end();
}

if (which === 'all' || which === 'latency') {
  const url = await freshDatabase('b2b_etl_bench_latency');
  const pool = new pg.Pool({ connectionString: url, max: 4 });
  await useSampleWindow(pool, sample.figures.windowStart);
  const [, prepSeconds] = await timed(async () => {
    await landManifest(pool, sample.dir, sample.manifest, { quiet: true });
    await pool.query('analyze staging.record');
    await runTransform(pool);
  });
  const { rows: size } = await pool.query<{ n: string }>('select count(*) as n from canonical.company');
  console.log(`latency database: store B seed files landed and transformed (${size[0]!.n} canonical companies) in ${seconds(prepSeconds)}`);

  const topic = await newTopic('bench-latency', 3);
  const transforms: number[] = [];
  const consumer = new KafkaConsumer(pool, { brokers, source: 'store_b_events', config: config(topic) });
  await consumer.start();
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  const rate = 500;
  const duration = 40;
  const r = new Random(99);
  // new INNs only, so every event makes a new canonical row the poller can see
  const taken = new Set((await pool.query<{ inn: string }>('select inn from canonical.company')).rows.map((row) => row.inn));
  const newInn = () => {
    let inn = makeInn10(r);
    while (taken.has(inn)) inn = makeInn10(r);
    taken.add(inn);
    return inn;
  };
  const produced = new Map<string, number>();
  const arrived = new Map<string, number>();
  let lastId = Number((await pool.query<{ m: string }>('select coalesce(max(company_id), 0) as m from canonical.company')).rows[0]!.m);
  let polling = true;
  // the canonical side: new companies appear with growing ids; poll every 50 ms
  const poller = (async () => {
    while (polling) {
      const { rows } = await pool.query<{ company_id: string; name: string }>(
        `select company_id, name from canonical.company where company_id > $1 order by company_id`, [lastId]);
      const now = Date.now();
      for (const row of rows) {
        lastId = Math.max(lastId, Number(row.company_id));
        if (!arrived.has(row.name)) arrived.set(row.name, now);
      }
      await new Promise((res) => setTimeout(res, 50));
    }
  })();
  const start = Date.now();
  for (let tick = 0; tick < duration * 10; tick++) {
    // 50 messages every 100 ms: 500 per second
    const messages = [];
    for (let i = 0; i < rate / 10; i++) {
      const n = tick * (rate / 10) + i;
      const name = `ООО «Задержка ${n}»`;
      const at = new Date().toISOString();
      messages.push({ key: `LAT-${n}`, value: JSON.stringify({ event: 'company.upserted', occurred_at: at, data: { id: `LAT-${n}`, inn: newInn(), title: name, phones: ['+7 495 100 00 00'], updated: at } }) });
      produced.set(name, Date.now());
    }
    await producer.send({ topic, messages });
    const wait = start + (tick + 1) * 100 - Date.now();
    if (wait > 0) await new Promise((res) => setTimeout(res, wait));
  }
  const sentSeconds = (Date.now() - start) / 1000;
  const deadline = Date.now() + 60_000;
  while (arrived.size < produced.size && Date.now() < deadline) await new Promise((res) => setTimeout(res, 100));
  polling = false;
  await poller;
  await producer.disconnect();
  await consumer.stop();
  const { rows: runs } = await pool.query<{ s: string }>(
    `select extract(epoch from finished_at - started_at) as s from etl.run where started_at >= $1 order by run_id`, [new Date(start)]);
  for (const run of runs) transforms.push(Number(run.s));
  const latencies = [...produced].filter(([name]) => arrived.has(name)).map(([name, at]) => arrived.get(name)! - at).sort((a, b) => a - b);
  const pct = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))]!;
  transforms.sort((a, b) => a - b);
  console.log(`produced ${produced.size} events at ${Math.round(produced.size / sentSeconds)}/s for ${seconds(sentSeconds)}; ` +
    `${latencies.length} reached canonical (${produced.size - latencies.length} did not within 60 s after)`);
  console.log(`produce → canonical latency: p50 ${pct(50)} ms, p95 ${pct(95)} ms, p99 ${pct(99)} ms, max ${latencies[latencies.length - 1]} ms (target p95 < 2000 ms)`);
  console.log(`incremental transform runs: ${transforms.length}, median ${(transforms[Math.floor(transforms.length / 2)] ?? 0).toFixed(2)} s, max ${(transforms[transforms.length - 1] ?? 0).toFixed(2)} s`);
  await pool.end();
}
