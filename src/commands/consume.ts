import { parseArgs } from 'node:util';
import { kafkaSource, loadConfig } from '../config.js';
import { KafkaConsumer } from '../consume/consumer.js';
import { UsageError, log, withDatabase } from './context.js';

const USAGE = 'usage: b2b-etl consume --source NAME [--topic T] [--group G] [--no-transform]   (KAFKA_BROKERS, default 127.0.0.1:9092)';

/** Lands a Kafka topic until SIGTERM or SIGINT, then finishes the batch in flight and exits 0. */
export async function consumeCommand(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      source: { type: 'string' },
      topic: { type: 'string' },
      group: { type: 'string' },
      'no-transform': { type: 'boolean', default: false },
      'progress-seconds': { type: 'string', default: '10' },
    },
  });
  if (!values.source) throw new UsageError(USAGE);
  const config = kafkaSource(loadConfig(), values.source);
  if (values.topic) config.topic = values.topic;
  if (values.group) config.groupId = values.group;
  const brokers = (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(',').map((b) => b.trim()).filter(Boolean);
  const progressSeconds = Number(values['progress-seconds']);
  if (!Number.isFinite(progressSeconds) || progressSeconds < 0) throw new UsageError('--progress-seconds must be a number of seconds');

  await withDatabase(async (db) => {
    const consumer = new KafkaConsumer(db.pool, {
      brokers,
      source: values.source!,
      config,
      transform: !values['no-transform'],
      log,
      progressSeconds,
    });
    const onSignal = (signal: string) => {
      log(`${values.source}: ${signal}: finishing the batch in flight and leaving the group`);
      void consumer.stop();
    };
    process.once('SIGTERM', () => onSignal('SIGTERM'));
    process.once('SIGINT', () => onSignal('SIGINT'));
    await consumer.start();
    log(`${values.source}: consuming ${config.topic} from ${brokers.join(',')} as group ${config.groupId}`);
    await consumer.finished;
    log(consumer.describe());
  });
  return 0;
}
