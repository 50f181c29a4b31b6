import { existsSync, statSync } from 'node:fs';
import type { Command } from 'commander';
import { Kafka, logLevel, Partitioners } from 'kafkajs';
import { kafkaBrokers, kafkaConnection, kafkaSource } from '../config.js';
import { eventKey, readEventLines } from '../generate/events.js';
import { configuration, log, UsageError } from './context.js';
import { action, requireOptions } from './define.js';

interface ProduceFlags {
  source: string;
  topic?: string;
  ifEmpty: boolean;
}

/** Messages per request to the brokers. */
const CHUNK = 1000;

/**
 * `b2b-etl produce FILE --source S`: sends a file of store events (NDJSON, one message value a
 * line, as `generate` writes store_b_events.ndjson) to a Kafka source's topic, the way the
 * store does: each line's bytes as they are (a Windows-1251 line stays one), keyed by its
 * record id. For trying the pipeline on the sample (docker compose runs it once).
 */
export function defineProduce(program: Command): void {
  const produce = program
    .command('produce')
    .summary('send a file of store events (NDJSON) to a Kafka source\'s topic, keyed by record id (KAFKA_BROKERS)')
    .description('Sends each line of FILE, its bytes as they are, as one message to the Kafka source\'s topic, keyed by its ' +
      'record id as the store keys it; the topic is created (with the brokers\' default partitions) when missing. For trying ' +
      'the pipeline on the generated sample: b2b-etl produce sample/store_b_events.ndjson --source store_b_events.')
    .argument('<file>', 'the events, one message a line (store_b_events.ndjson from b2b-etl generate)')
    .option('--source <name>', 'the Kafka source whose topic gets them (as in b2b-etl.config.json; store_b_events is built in)')
    .option('--topic <topic>', 'the topic (default: the source\'s)')
    .option('--if-empty', 'send nothing when the topic already holds messages (so a second run does not send them twice)', false)
    .action(action((file: string, flags: ProduceFlags) => produceCommand(file, flags)));
  requireOptions(produce, '--source');
}

async function produceCommand(file: string, flags: ProduceFlags): Promise<number> {
  const config = kafkaSource(configuration(), flags.source, { topic: flags.topic });
  const connection = kafkaConnection(configuration());
  const brokers = kafkaBrokers();
  if (!existsSync(file)) throw new UsageError(`produce: ${file}: no such file`);
  if (statSync(file).isDirectory()) throw new UsageError(`produce: ${file} is a directory; give an NDJSON file of events, one a line`);
  const lines = readEventLines(file);
  const kafka = new Kafka({ clientId: 'b2b-etl-produce', brokers, ...connection, logLevel: logLevel.NOTHING, retry: { retries: 5 } });
  const admin = kafka.admin();
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner, allowAutoTopicCreation: false });
  const started = Date.now();
  try {
    await admin.connect().catch((e: Error) => {
      throw new Error(`produce: cannot reach the Kafka brokers at ${brokers.join(',')} (KAFKA_BROKERS): ${e.message}`);
    });
    if (!(await admin.listTopics()).includes(config.topic)) {
      await admin.createTopics({ topics: [{ topic: config.topic }], waitForLeaders: true }).catch((e: Error & { errors?: Array<{ message?: string }> }) => {
        // kafkajs says "Topic creation errors" and keeps the broker's reason inside
        const why = e.errors?.map((x) => x.message).filter(Boolean).join('; ') || e.message;
        throw new Error(`produce: cannot create topic ${config.topic} on ${brokers.join(',')}: ${why}; nothing was sent`);
      });
      log(`produce: created topic ${config.topic}`);
    } else if (flags.ifEmpty) {
      const held = (await admin.fetchTopicOffsets(config.topic)).reduce((n, p) => n + Number(p.high) - Number(p.low), 0);
      if (held > 0) {
        log(`produce: topic ${config.topic} already holds ${held} messages: nothing sent (--if-empty)`);
        return 0;
      }
    }
    await producer.connect();
    for (let i = 0; i < lines.length; i += CHUNK) {
      await producer.send({
        topic: config.topic,
        messages: lines.slice(i, i + CHUNK).map((value) => ({ key: eventKey(value.toString('latin1')), value })),
      });
    }
  } finally {
    await producer.disconnect().catch(() => {});
    await admin.disconnect().catch(() => {});
  }
  log(`produce: ${lines.length} messages from ${file} to topic ${config.topic} (source ${flags.source}) in ${((Date.now() - started) / 1000).toFixed(1)}s`);
  return 0;
}
