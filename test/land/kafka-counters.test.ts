import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kafkaSource } from '../../src/config.js';
import { KafkaConsumer } from '../../src/land/kafka.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { BROKERS, createTopic, kafkaAvailable, produce } from '../helpers/kafka.js';

// The consumer's summary is what an operator reads after a run: every message counted once,
// as new or as landed before this run, whatever Kafka delivered twice.

const available = await kafkaAvailable();

const event = (id: string, title: string) =>
  Buffer.from(JSON.stringify({ event: 'company.upserted', occurred_at: '2026-11-02T10:00:00Z', data: { id, inn: '7707083893', title, updated: '2026-11-02T10:00:00Z' } }));

describe.skipIf(!available)('the Kafka consumer\'s counters', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => {
    await db?.drop();
  });

  async function consumeAll(topic: string, groupId: string, expected: number): Promise<KafkaConsumer> {
    const consumer = new KafkaConsumer(db.pool, {
      brokers: BROKERS,
      source: 'store_b_events',
      config: { ...kafkaSource({ sources: {} }, 'store_b_events'), topic, groupId },
      transform: false,
    });
    await consumer.start();
    const deadline = Date.now() + 60_000;
    // until the messages are landed and the consumer has had the time to be handed them again
    while (Number(await db.value(`select coalesce(sum(next_offset), 0) from etl.kafka_offset where topic = $1 and group_id = $2`, [topic, groupId])) < expected) {
      if (Date.now() > deadline) throw new Error(`not landed: ${consumer.describe()}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    await new Promise((r) => setTimeout(r, 2000));
    await consumer.stop();
    return consumer;
  }

  it('two new messages are two messages and two new versions, none already landed', async () => {
    const topic = await createTopic(1);
    await produce(topic, [event('N-1', 'Первая'), event('N-2', 'Вторая')]);
    const consumer = await consumeAll(topic, `g-${topic}`, 2);
    expect(consumer.stats).toMatchObject({ messages: 2, landed: 2, skipped: 0 });
    // fetched once: the seek to the stored offsets, done after the first fetch landed, does not go back behind it
    expect(consumer.stats.batches).toBe(1);
    expect(consumer.describe()).toMatch(/^store_b_events: 2 messages, 2 new versions, 0 unparseable, 0 in cp1251, 0 already landed, /);
  });
});
