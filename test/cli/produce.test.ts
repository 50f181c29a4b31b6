import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Kafka, logLevel } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventKey, readEventLines } from '../../src/generate/events.js';
import { STORE_B_EVENTS } from '../../src/generate/index.js';
import { runCli } from '../helpers/cli.js';
import { BROKERS, kafkaAvailable } from '../helpers/kafka.js';
import { makeSample, type Sample } from '../helpers/sample.js';

const available = await kafkaAvailable();
const kafka = new Kafka({ clientId: 'b2b-etl-tests', brokers: BROKERS, logLevel: logLevel.NOTHING });

/** Every message of a topic: key and value bytes. */
async function readTopic(topic: string, expected: number): Promise<Array<{ key: string | null; value: Buffer }>> {
  const consumer = kafka.consumer({ groupId: `${topic}-reader` });
  const messages: Array<{ key: string | null; value: Buffer }> = [];
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({ eachMessage: async ({ message }) => void messages.push({ key: message.key?.toString() ?? null, value: message.value! }) });
  for (let i = 0; i < 600 && messages.length < expected; i++) await sleep(50);
  await consumer.disconnect();
  return messages;
}

describe.skipIf(!available)('b2b-etl produce', () => {
  let sample: Sample;
  const topic = `b2b-etl-test-produce-${process.pid}-${randomBytes(4).toString('hex')}`;

  beforeAll(async () => {
    sample = await makeSample({ scale: 'small', seed: 3 });
  });

  afterAll(async () => {
    const admin = kafka.admin();
    await admin.connect();
    await admin.deleteTopics({ topics: [topic] }).catch(() => {});
    await admin.disconnect();
  });

  it('sends each line of the sample\'s events as it is, keyed by its record id, creating the topic; --if-empty sends nothing twice', async () => {
    const file = join(sample.dir, STORE_B_EVENTS);
    const lines = readEventLines(file);
    const env = { KAFKA_BROKERS: BROKERS.join(',') };
    const first = await runCli(['produce', file, '--source', 'store_b_events', '--topic', topic, '--if-empty'], 'postgres://unused@127.0.0.1:1/none', env);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stderr).toContain(`${lines.length} messages`);
    const messages = await readTopic(topic, lines.length);
    expect(messages.length).toBe(lines.length);
    // the bytes as they are (cp1251 lines too), keyed by the record id: one multiset of (key, value)
    const sent = lines.map((value) => `${eventKey(value.toString('latin1'))}\t${value.toString('hex')}`).sort();
    expect(messages.map((m) => `${m.key}\t${m.value.toString('hex')}`).sort()).toEqual(sent);
    expect(lines.some((line) => line.toString('utf8').includes('\uFFFD'))).toBe(true); // some lines are cp1251, not UTF-8

    const again = await runCli(['produce', file, '--source', 'store_b_events', '--topic', topic, '--if-empty'], 'postgres://unused@127.0.0.1:1/none', env);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toContain('nothing sent (--if-empty)');
    const admin = kafka.admin();
    await admin.connect();
    const held = (await admin.fetchTopicOffsets(topic)).reduce((n, p) => n + Number(p.high) - Number(p.low), 0);
    await admin.disconnect();
    expect(held).toBe(lines.length);
  });

  it('names a missing file and the Kafka source setting it lacks', async () => {
    const missing = await runCli(['produce', join(sample.dir, 'nope.ndjson'), '--source', 'store_b_events'], 'postgres://unused@127.0.0.1:1/none');
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('nope.ndjson: no such file');
    const directory = await runCli(['produce', sample.dir, '--source', 'store_b_events'], 'postgres://unused@127.0.0.1:1/none');
    expect(directory.code).toBe(2);
    expect(directory.stderr).toContain(`${sample.dir} is a directory`);
    const badTopic = await runCli(['produce', join(sample.dir, STORE_B_EVENTS), '--source', 'store_b_events', '--topic', 'bad topic!'], 'postgres://unused@127.0.0.1:1/none',
      { KAFKA_BROKERS: BROKERS.join(',') });
    expect(badTopic.code).toBe(1);
    expect(badTopic.stderr).toMatch(/produce: cannot create topic bad topic! on [^:]+:\d+: .+; nothing was sent/);
    const wrong = await runCli(['produce', join(sample.dir, STORE_B_EVENTS), '--source', 'store_b'], 'postgres://unused@127.0.0.1:1/none');
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toContain('store_b is not a Kafka source');
  });
});
