import { randomBytes } from 'node:crypto';
import { Kafka, logLevel, Partitioners } from 'kafkajs';
import { eventKey } from '../../src/generate/events.js';

export const BROKERS = (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(',');

const kafka = new Kafka({ clientId: 'b2b-etl-tests', brokers: BROKERS, logLevel: logLevel.NOTHING, retry: { retries: 2 } });

/**
 * Whether the broker answers. Without it the Kafka suites skip, unless REQUIRE_SERVICES=1
 * (CI), where a missing broker fails the run.
 */
export async function kafkaAvailable(): Promise<boolean> {
  const admin = kafka.admin();
  try {
    await admin.connect();
    await admin.listTopics();
    return true;
  } catch (e) {
    if (process.env.REQUIRE_SERVICES === '1') {
      throw new Error(`REQUIRE_SERVICES=1 and no Kafka broker answers at ${BROKERS.join(',')} (scripts/kafka.sh start): ${(e as Error).message}`);
    }
    return false;
  } finally {
    await admin.disconnect().catch(() => {});
  }
}

/** A new topic with a unique name. */
export async function createTopic(partitions = 3): Promise<string> {
  const topic = `b2b-etl-test-${process.pid}-${randomBytes(4).toString('hex')}`;
  const admin = kafka.admin();
  await admin.connect();
  try {
    await admin.createTopics({ topics: [{ topic, numPartitions: partitions }], waitForLeaders: true });
  } finally {
    await admin.disconnect();
  }
  return topic;
}

/** Produces message values as they are, keyed by their record id (the store's partitioning). */
export async function produce(topic: string, values: Buffer[]): Promise<void> {
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner, allowAutoTopicCreation: false });
  await producer.connect();
  try {
    for (let i = 0; i < values.length; i += 1000) {
      await producer.send({
        topic,
        messages: values.slice(i, i + 1000).map((value) => ({ key: eventKey(value.toString('latin1')), value })),
      });
    }
  } finally {
    await producer.disconnect();
  }
}

/** Moves a group's committed offsets in Kafka itself (the group must have no members). */
export async function resetKafkaOffsets(groupId: string, topic: string, to: 'earliest' | 'latest'): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const offsets = await admin.fetchTopicOffsets(topic);
    await admin.setOffsets({ groupId, topic, partitions: offsets.map((p) => ({ partition: p.partition, offset: to === 'earliest' ? p.low : p.high })) });
  } finally {
    await admin.disconnect();
  }
}
