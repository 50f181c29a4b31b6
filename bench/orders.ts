// Orders at seed scale, one run on this machine:
//  1. landing per source: store B's orders file (land file), store A's orders with their lines
//     from MariaDB (land mysql, the orders table's own time), and store B's orders as
//     order.upserted events on a Kafka topic landed by the consumer (no transform);
//  2. the transform with orders: the first transform of both stores (companies, contacts,
//     orders) and a full one, with the seconds of their order steps;
//  3. the deals' push to a sandbox portal at the standard plan's request limit (a bucket of 50
//     draining 2 a second, batches of 50 commands: a ceiling of 100 commands a second): the
//     companies of the first `--companies` ready ones (their contacts and deals follow), then
//     the deal commands a second, from the portal's call log, against that ceiling.
// Prints figures; asserts nothing; the databases are named for this run and dropped at its end.
// Usage: DATABASE_URL=... MYSQL_URL=... KAFKA_BROKERS=127.0.0.1:9092 node --expose-gc dist/bench/orders.js
//   [--companies 1500] [--import-cost 0.001]
// --import-cost: the sandbox's simulated operating seconds per imported item (the docs' example
// says 1.19 s: at that cost the portal's execution-time limit, not the request rate, bounds import).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Kafka, logLevel, Partitioners } from 'kafkajs';
import { kafkaSource, mysqlSource, registryConfig } from '../src/config.js';
import { push } from '../src/crm/push.js';
import { PLAN_LIMITS } from '../src/crm/pacing.js';
import { REGISTRY_SNAPSHOT, STORE_A_DUMP } from '../src/generate/index.js';
import { landManifest, useSampleWindow } from '../src/generate/land-manifest.js';
import { drainQueue } from '../src/jobs/worker.js';
import { landFile } from '../src/land/file.js';
import { readRecords } from '../src/land/file-reader.js';
import { KafkaConsumer } from '../src/land/kafka.js';
import { landMysql } from '../src/land/mysql.js';
import { importSnapshot } from '../src/registry/snapshot.js';
import { startSandbox } from '../src/sandbox/index.js';
import { runTransform } from '../src/transform/run.js';
import { benchPool, consumeAll, dropRunDatabases, freshDatabase, mariadbWithDump, newTopic, readyToTime, sampleFigures, seconds, timed } from './common.js';

const { values: flags } = parseArgs({ options: { companies: { type: 'string', default: '1500' }, 'import-cost': { type: 'string', default: '0.001' } } });
const pushCompanies = Number(flags.companies);
const importCost = Number(flags['import-cost']);
const n = (x: number) => Math.round(x).toLocaleString('en-US');
const rate = (count: number, s: number) => `${n(count / s)}/s`;

const sample = await sampleFigures('seed-live', { scale: 'seed', seed: 1 }, (truth) => ({
  windowStart: truth.window_start,
  storeBOrders: Object.keys(truth.store_b.orders).length,
  storeAOrders: Object.keys(truth.store_a.orders).length,
}));
const ordersFile = sample.manifest.find((f) => f.entity === 'orders')!;
const url = await freshDatabase('b2b_etl_bench_orders');
const pool = benchPool(url, 6);
await useSampleWindow(pool, sample.figures.windowStart);

// 1. landing, per source
await landManifest(pool, sample.dir, sample.manifest.filter((f) => f.entity !== 'orders'), { quiet: true });
readyToTime(url);
const [fileResult, fileSeconds] = await timed(() => landFile(pool, {
  path: join(sample.dir, ordersFile.file), source: 'store_b', entity: 'order', encoding: 'utf8', fields: { key: 'id', updated: 'updated' }, quiet: true,
}));
console.log(`store B orders file: ${n(fileResult.records)} orders (their items inside) landed in ${seconds(fileSeconds)}: ${rate(fileResult.records, fileSeconds)}`);

const replica = await mariadbWithDump('b2b_etl_bench_orders', join(sample.dir, STORE_A_DUMP));
readyToTime(url);
const mysql = await landMysql(pool, { url: replica.url, source: 'store_a', config: mysqlSource({ sources: {} }, 'store_a'), full: true, quiet: true });
for (const t of mysql.tables) {
  console.log(`store A ${t.table}: ${n(t.rows)} rows${t.entity === 'order' ? ' (each with its order_items lines, read in the same snapshot)' : ''} in ${seconds(t.seconds)}: ${rate(t.rows, t.seconds)}`);
}

{
  const brokers = (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(',');
  const kafka = new Kafka({ clientId: 'b2b-etl-bench-orders', brokers, logLevel: logLevel.NOTHING });
  const topic = await newTopic(kafka, 'bench-orders', 3);
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner, allowAutoTopicCreation: false });
  await producer.connect();
  let messages: Array<{ key: string; value: string }> = [];
  let produced = 0;
  for await (const order of readRecords({ path: join(sample.dir, ordersFile.file), encoding: 'utf8' }, { bytes: 0 })) {
    const data = order as { id: string; updated: string };
    messages.push({ key: data.id, value: JSON.stringify({ event: 'order.upserted', occurred_at: data.updated, data }) });
    if (messages.length === 5000) {
      await producer.send({ topic, messages });
      produced += messages.length;
      messages = [];
    }
  }
  if (messages.length > 0) await producer.send({ topic, messages });
  produced += messages.length;
  await producer.disconnect();
  const kafkaUrl = await freshDatabase('b2b_etl_bench_orders_kafka');
  const kafkaPool = benchPool(kafkaUrl, 4);
  const consumer = new KafkaConsumer(kafkaPool, {
    brokers, source: 'store_b_events', config: { ...kafkaSource({ sources: {} }, 'store_b_events'), topic, groupId: `bench-${topic}` }, transform: false, log: console.error,
  });
  readyToTime(kafkaUrl);
  const kafkaSeconds = await consumeAll(consumer, produced);
  await kafkaPool.end();
  console.log(`store B order events on Kafka: ${n(produced)} messages landed by the consumer in ${seconds(kafkaSeconds)}: ${rate(produced, kafkaSeconds)}`);
}

// 2. the transform with orders
readyToTime(url);
const first = await runTransform(pool);
const steps = (stats: Record<string, unknown>) => {
  const s = stats.step_seconds as Record<string, number>;
  return `orders' steps: clean ${s.clean_orders} s, rejections ${s.order_rejections} s, deals ${s.build_deals} s`;
};
console.log(`first transform of both stores: ${n(first.stats.company_records!)} company, ${n(first.stats.contact_records!)} contact and ` +
  `${n(first.stats.order_records!)} order records, ${n(first.stats.deals_written!)} deals, ${seconds(first.seconds)}; ${steps(first.stats)}`);
readyToTime(url);
const full = await runTransform(pool, { full: true });
console.log(`full transform: ${seconds(full.seconds)}; ${steps(full.stats)}`);

// 3. the deals' push
await importSnapshot(pool, join(sample.dir, REGISTRY_SNAPSHOT));
await drainQueue({ pool, registry: registryConfig({ sources: {}, registry: { provider: 'snapshot', concurrency: 8 } }), log: () => {} });
await runTransform(pool);
const standard = PLAN_LIMITS.standard;
const sandbox = await startSandbox({
  databaseUrl: url, schema: 'bench_portal', log: () => {}, plan: 'standard', operating: { importItemSeconds: importCost },
});
const ca = sandbox.certFile ? readFileSync(sandbox.certFile, 'utf8') : undefined;
const [result, pushSeconds] = await timed(() => push(pool, {
  webhookUrl: sandbox.webhookUrl, ca,
  limit: pushCompanies, progressSeconds: 30, log: console.error,
}));
const { rows: [deals] } = await pool.query<{ commands: string; requests: string; first: Date; last: Date; refusals: string }>(`
  select count(*) as commands, count(distinct c.id) as requests, min(c.at) as first, max(c.at) as last,
    (select count(*) from bench_portal.call r where r.status <> 200) as refusals
  from bench_portal.call c join bench_portal.call_command cc on cc.call_id = c.id
  where c.status = 200 and (lower(cc.method) in ('crm.item.productrow.set', 'crm.deal.list', 'crm.status.list')
    or (lower(cc.method) = 'crm.item.batchimport' and (cc.params ->> 'entityTypeId') = '2'))`);
await sandbox.stop();
const dealSeconds = Math.max((deals!.last.getTime() - deals!.first.getTime()) / 1000, 0.001);
const ceiling = standard.drain * 50;
console.log(`push of ${n(result.stats.company.created)} companies, ${n(result.stats.contact.created)} contacts and ${n(result.stats.deal.created)} deals ` +
  `(${n(result.stats.deal.failed)} failed) in ${seconds(pushSeconds)}, ${n(result.commands)} commands in ${n(result.pacing.requests)} requests`);
const perRequest = Number(deals!.commands) / Number(deals!.requests);
console.log(`deals: ${n(Number(deals!.commands))} commands in ${n(Number(deals!.requests))} requests over ${seconds(dealSeconds)}: ` +
  `${(Number(deals!.commands) / dealSeconds).toFixed(1)} commands/s against the standard plan's ceiling of ${ceiling} ` +
  `(${standard.drain} requests/s × 50 commands; a phase that starts with room in the portal's bucket of ${standard.size} requests goes past it for a while); ` +
  `${perRequest.toFixed(1)} commands a request, so ${(perRequest * standard.drain).toFixed(1)} commands/s once the bucket is full ` +
  `(${((perRequest * standard.drain) / ceiling * 100).toFixed(1)} % of the ceiling); ${n(Number(deals!.refusals))} requests the portal refused in the whole push; ` +
  `imports at ${importCost} s of execution an item`);
await pool.end();
await dropRunDatabases();
