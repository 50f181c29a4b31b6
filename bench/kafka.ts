// Store B's live changes, one run on this machine against the real broker: kcat (a
// third-party producer) produces the 600 000 seed events into a fresh topic; the consumer
// lands them all through the landing pipeline (no transform) into a database of this run:
// messages per second landed, against the target of at least 50 000. The latency from an
// event to canonical and to the portal is bench/latency.ts.
// Prints figures; asserts nothing; its database is named for the run and dropped at its end.
// Usage: DATABASE_URL=... KAFKA_BROKERS=127.0.0.1:9092 npx tsx bench/kafka.ts
import { execFileSync } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { join } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { kafkaSource, type KafkaSourceConfig } from '../src/config.js';
import { KafkaConsumer } from '../src/land/kafka.js';
import { eventKey, readEventLines } from '../src/generate/events.js';
import { STORE_B_EVENTS } from '../src/generate/index.js';
import { benchPool, consumeAll, freshDatabase, newTopic, OUT, readyToTime, sampleFigures, seconds, timed } from './common.js';

const brokers = (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(',');
const kafka = new Kafka({ clientId: 'b2b-etl-bench', brokers, logLevel: logLevel.NOTHING });
const sample = await sampleFigures('seed-live', { scale: 'seed', seed: 1 }, (truth) => ({
  messages: truth.store_b_events.messages,
}));

function config(topic: string, over: Partial<KafkaSourceConfig> = {}): KafkaSourceConfig {
  return { ...kafkaSource({ sources: {} }, 'store_b_events'), topic, groupId: `bench-${topic}`, ...over };
}

{
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
  const topic = await newTopic(kafka, 'bench-events', 3);
  const kcatVersion = execFileSync('kcat', ['-V']).toString().split('\n')[0];
  const [, produceSeconds] = await timed(async () => {
    execFileSync('kcat', ['-P', '-b', brokers.join(','), '-t', topic, '-K', '\t', '-l', keyed], { stdio: 'inherit' });
  });
  console.log(`${kcatVersion}: produced ${total} events into ${topic} (3 partitions) in ${seconds(produceSeconds)}`);

  const url = await freshDatabase('b2b_etl_bench_kafka');
  const pool = benchPool(url, 4);
  const consumer = new KafkaConsumer(pool, { brokers, source: 'store_b_events', config: config(topic), transform: false, log: console.error });
  readyToTime(url);
  const landSeconds = await consumeAll(consumer, total);
  const { rows } = await pool.query<{ n: string }>('select count(*) as n from staging.kafka_message');
  console.log(`consumer landed ${rows[0]!.n} messages (${consumer.stats.landed} new versions, ${consumer.stats.unparseable} unparseable, ` +
    `${consumer.stats.cp1251} cp1251) in ${consumer.stats.batches} batches in ${seconds(landSeconds)}: ` +
    `${Math.round(total / landSeconds)} messages/s (target ≥ 50 000)`);
  await pool.end();
}
