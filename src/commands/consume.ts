import type { Command } from 'commander';
import { badRecordPolicy, kafkaBrokers, kafkaConnection, kafkaSource } from '../config.js';
import { KafkaConsumer } from '../land/kafka.js';
import { configuration, log, withDatabase } from './context.js';
import { action, nonNegativeNumber, requireOptions } from './define.js';

interface ConsumeFlags {
  source: string;
  topic?: string;
  group?: string;
  transform: boolean;
  progressSeconds: number;
}

/** `b2b-etl consume`: lands a Kafka topic until SIGTERM or SIGINT, then finishes the batch in flight and exits 0. */
export function defineConsume(program: Command): void {
  const consume = program
    .command('consume')
    .summary('land a Kafka topic\'s events until SIGTERM (KAFKA_BROKERS)')
    .description('Joins the consumer group and lands every fetched batch with its offsets in one transaction; ' +
      'the incremental transform runs after landings. SIGTERM or SIGINT finishes the batch in flight and exits 0. ' +
      'Brokers: KAFKA_BROKERS (default 127.0.0.1:9092); TLS and SASL: the config\'s kafka section, KAFKA_SASL_USERNAME, KAFKA_SASL_PASSWORD.')
    .option('--source <name>', 'the Kafka source (as in b2b-etl.config.json; store_b_events is built in)')
    .option('--topic <topic>', 'the topic (default: the source\'s)')
    .option('--group <group>', 'the consumer group (default: the source\'s, b2b-etl)')
    .option('--no-transform', 'land only; do not run the transform after landings')
    .option('--progress-seconds <s>', 'seconds between progress lines, 0 for none', nonNegativeNumber, 10)
    .action(action((flags: ConsumeFlags) => consumeTopic(flags)));
  requireOptions(consume, '--source');
}

async function consumeTopic(flags: ConsumeFlags): Promise<number> {
  const config = kafkaSource(configuration(), flags.source, { topic: flags.topic, groupId: flags.group });
  const connection = kafkaConnection(configuration());
  const brokers = kafkaBrokers();

  await withDatabase(async (db) => {
    const consumer = new KafkaConsumer(db.pool, {
      brokers,
      connection,
      source: flags.source,
      config,
      transform: flags.transform,
      badRecords: badRecordPolicy(configuration(), flags.source, 'kafka'),
      log,
      progressSeconds: flags.progressSeconds,
    });
    const onSignal = (signal: string) => {
      log(`${flags.source}: ${signal}: finishing the batch in flight and leaving the group`);
      void consumer.stop();
    };
    process.once('SIGTERM', () => onSignal('SIGTERM'));
    process.once('SIGINT', () => onSignal('SIGINT'));
    await consumer.start();
    log(`${flags.source}: consuming ${config.topic} from ${brokers.join(',')} as group ${config.groupId}`);
    await consumer.finished;
    log(consumer.describe());
  });
  return 0;
}
