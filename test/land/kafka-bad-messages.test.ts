import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { badRecordPolicy, kafkaSource } from '../../src/config.js';
import { KafkaConsumer } from '../../src/land/kafka.js';
import { runTransform } from '../../src/transform/run.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { BROKERS, createTopic, kafkaAvailable, produce } from '../helpers/kafka.js';

// What a live feed really carries: JSON that JavaScript accepts and PostgreSQL refuses, ids
// past 2^53, events without an id, change times in the Russian form or in none. One such
// message must never stop the partition.

const available = await kafkaAvailable();

/** A company event as store B writes it; `data` is JSON text, so it can hold what JSON.stringify never writes. */
const event = (data: string, occurredAt = '2026-11-02T10:00:00Z') =>
  Buffer.from(`{"event":"company.upserted","occurred_at":"${occurredAt}","data":{${data}}}`);

const MESSAGES = [
  event('"id":"K-1","inn":"7707083893","title":"Первая","updated":"2026-11-02T10:00:00Z"'),
  event('"id":"K-2","inn":"7736050003","title":"\\ud800 одиночный суррогат","updated":"2026-11-02T10:00:00Z"'),
  event('"id":"K-3","inn":"7702070139","revenue":1e1000000,"updated":"2026-11-02T10:00:00Z"'),
  event('"id":12345678901234567890,"inn":"7710140679","title":"Большой id 1","updated":"2026-11-02T10:00:00Z"'),
  event('"id":12345678901234567891,"inn":"7728168971","title":"Большой id 2","updated":"2026-11-02T10:00:00Z"'),
  event('"inn":"7703270067","title":"Без id","updated":"2026-11-02T10:00:00Z"'),
  event('"id":"K-7","inn":"7704217370","title":"Русская дата","updated":"01.10.2026 12:00"'),
  event('"id":"K-8","inn":"7712040126","title":"Мусор","updated":"garbage"', '2026-11-03T08:00:00Z'),
  // not JSON and holding U+0000: Confluent's Avro framing, text with a NUL in it
  Buffer.from([0, 0, 0, 0, 1, 0x0a, 0x4b, 0x2d, 0x31, 0x30]),
  Buffer.from('plain\u0000text'),
  event('"id":"K-9","inn":"7707049388","title":"Последняя","updated":"2026-11-02T10:00:00Z"'),
];

describe.skipIf(!available)('Kafka consumer and messages real feeds carry', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => {
    await db?.drop();
  });

  it('lands what PostgreSQL refuses as raw text, keeps big ids exact, keys nothing by position, and goes on', async () => {
    const topic = await createTopic(1);
    await produce(topic, MESSAGES);
    const consumer = new KafkaConsumer(db.pool, {
      brokers: BROKERS,
      source: 'store_b_events',
      config: { ...kafkaSource({ sources: {} }, 'store_b_events'), topic, groupId: `g-${topic}` },
      transform: false,
    });
    await consumer.start();
    const deadline = Date.now() + 60_000;
    while (Number(await db.value(`select coalesce(sum(next_offset), 0) from etl.kafka_offset where topic = $1`, [topic])) < MESSAGES.length) {
      if (Date.now() > deadline) throw new Error(`the partition stopped: ${consumer.describe()}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    await consumer.stop();
    expect(consumer.stats).toMatchObject({ messages: MESSAGES.length, unparseable: 4 });

    const records = await db.rows<{ source_key: string; payload: unknown; reason: string | null; at: Date | null }>(
      `select source_key, payload is not null as payload, landing_issues -> 0 ->> 'reason' as reason, source_updated_at as at
       from staging.record order by staging_id`);
    expect(records.map((r) => [r.source_key.replace(/^#nokey:\w+$/, '#nokey'), r.payload, r.reason])).toEqual([
      ['K-1', true, null],
      ['K-2', false, 'unparseable'],
      ['K-3', false, 'unparseable'],
      ['12345678901234567890', true, null],
      ['12345678901234567891', true, null],
      ['#nokey', true, 'key_missing'],
      ['K-7', true, null],
      ['K-8', true, 'updated_unparseable'],
      [`${topic}/0/8`, false, 'unparseable'],
      [`${topic}/0/9`, false, 'unparseable'],
      ['K-9', true, null],
    ]);
    // day first, in the source's zone (+00:00 by default); an unreadable time leaves the event's own
    expect(records[6]!.at?.toISOString()).toBe('2026-10-01T12:00:00.000Z');
    expect(records[7]!.at?.toISOString()).toBe('2026-11-03T08:00:00.000Z');

    await runTransform(db.pool);
    const rejections = await db.rows<{ source_key: string; reason: string; detail: string }>(
      `select source_key, reason, detail from etl.rejection where resolved_at is null order by staging_id, reason`);
    expect(rejections.map((r) => [r.source_key.replace(/^#nokey:\w+$/, '#nokey'), r.reason])).toEqual([
      ['K-2', 'unparseable'], ['K-3', 'unparseable'], ['#nokey', 'key_missing'], ['K-8', 'updated_unparseable'],
      [`${topic}/0/8`, 'unparseable'], [`${topic}/0/9`, 'unparseable']]);
    expect(rejections[0]!.detail).toMatch(/PostgreSQL refused the JSON: .*surrogate/);
    expect(rejections[2]!.detail).toContain("no field 'data.id'");
    expect(await db.value(`select count(*) from canonical.company where inn in ('7707083893', '7710140679', '7728168971', '7704217370', '7712040126', '7707049388')`)).toBe('6');
  });

  it('stops, as sources.NAME.maxBadRecords says, at the first message past the limit, landing nothing of its batch', async () => {
    const topic = await createTopic(1);
    await produce(topic, MESSAGES);
    const setting = 'sources.store_b_events.maxBadRecords';
    const consumer = new KafkaConsumer(db.pool, {
      brokers: BROKERS,
      source: 'store_b_events',
      config: { ...kafkaSource({ sources: {} }, 'store_b_events'), topic, groupId: `g-${topic}` },
      transform: false,
      badRecords: badRecordPolicy({ sources: { store_b_events: { maxBadRecords: 3 } } }, 'store_b_events', 'kafka'),
    });
    await consumer.start();
    const stopped = await Promise.race([
      consumer.finished.then(() => null, (e: unknown) => e as Error),
      new Promise<Error>((resolve) => setTimeout(() => resolve(new Error('the consumer did not stop within 60 s')), 60_000)),
    ]);
    await consumer.stop();
    // two messages are not JSON (counted as read) and K-2 is refused by PostgreSQL: three; K-3 is one too many
    expect(stopped?.message).toMatch(new RegExp(`^more than 3 records could not be landed as they are \\(${setting}\\); the landing stopped at Kafka message ${topic}/0/2: PostgreSQL refused the JSON`));
    expect(await db.value(`select count(*) from staging.kafka_message where topic = $1`, [topic])).toBe('0');
    expect(await db.value(`select count(*) from etl.kafka_offset where topic = $1 and next_offset > 0`, [topic])).toBe('0');
  });

  it('a landing PostgreSQL fails is read again from its first message, and every message lands once', async () => {
    const topic = await createTopic(1);
    const good = [1, 2, 3, 4, 5].map((n) => event(`"id":"R-${n}","inn":"7707083893","title":"Повтор ${n}","updated":"2026-11-02T10:00:0${n}Z"`));
    await produce(topic, good);
    // the first offset update of this topic fails, as a full disk or a dropped connection would
    await db.pool.query(`create sequence fail_once_seq;
      create function fail_once() returns trigger language plpgsql as $$
      begin
        if new.topic = '${topic}' and nextval('fail_once_seq') = 1 then raise exception 'could not extend file: No space left on device'; end if;
        return new;
      end $$;
      create trigger fail_once before update on etl.kafka_offset for each row execute function fail_once()`);
    const lines: string[] = [];
    const consumer = new KafkaConsumer(db.pool, {
      brokers: BROKERS,
      source: 'store_b_events',
      config: { ...kafkaSource({ sources: {} }, 'store_b_events'), topic, groupId: `g-${topic}` },
      transform: false,
      log: (line) => lines.push(line),
    });
    try {
      await consumer.start();
      const deadline = Date.now() + 60_000;
      while (Number(await db.value(`select coalesce(sum(next_offset), 0) from etl.kafka_offset where topic = $1`, [topic])) < good.length) {
        if (Date.now() > deadline) throw new Error(`the partition stopped: ${consumer.describe()}; ${lines.join('; ')}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    } finally {
      await consumer.stop();
      await db.pool.query('drop trigger fail_once on etl.kafka_offset; drop function fail_once(); drop sequence fail_once_seq');
    }
    expect(lines.some((l) => l.includes(`landing ${topic}/0 from offset 0 failed (could not extend file: No space left on device); reading it again from there`))).toBe(true);
    expect(await db.value(`select count(*) from staging.kafka_message where topic = $1`, [topic])).toBe('5');
    expect(await db.value(`select count(*) from staging.record where source_key like 'R-%'`)).toBe('5');
    expect(consumer.stats).toMatchObject({ messages: 5, landed: 5 });
  });

  it('b2b-etl consume stopped by its policy exits 1 saying which message and why, with its transform runner shut first (no stack trace)', async () => {
    const topic = await createTopic(1);
    await produce(topic, MESSAGES);
    const config = join(tmpdir(), `b2b-etl-consume-${process.pid}-${topic}.json`);
    writeFileSync(config, JSON.stringify({ sources: { store_b_events: { maxBadRecords: 1 } } }));
    const run = await runCli(['consume', '--source', 'store_b_events', '--topic', topic, '--group', `g-${topic}`, '--progress-seconds', '0'], db.url,
      { B2B_ETL_CONFIG: config, KAFKA_BROKERS: BROKERS.join(',') });
    expect(run.code, run.stderr).toBe(1);
    // the two messages that are not JSON are in one landing: it is refused whole, named by its first
    expect(run.stderr).toMatch(new RegExp(`more than 1 records could not be landed as they are \\(sources\\.store_b_events\\.maxBadRecords\\); the landing stopped at Kafka message ${topic}/0/8: not JSON`));
    // what the message quoted of the bytes is shown without control characters
    expect(run.stderr).not.toMatch(/[\u0000-\u0008]/);
    expect(run.stderr).not.toMatch(/\n\s+at /);
    expect(run.stderr).not.toMatch(/Cannot use a pool/);
  });

  it('a topic that does not exist is an error, and is not created', async () => {
    const topic = `missing-${process.pid}-${Date.now()}`;
    const consumer = new KafkaConsumer(db.pool, {
      brokers: BROKERS, source: 'store_b_events', transform: false,
      config: { ...kafkaSource({ sources: {} }, 'store_b_events'), topic, groupId: `g-${topic}` },
    });
    await expect(consumer.start()).rejects.toThrow(`topic ${topic} does not exist`);
    const admin = new Kafka({ clientId: 'b2b-etl-tests', brokers: BROKERS, logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
    try {
      expect(await admin.listTopics()).not.toContain(topic);
    } finally {
      await admin.disconnect();
    }
  });
  it('refuses to start when the transform does not map one of the entities its events carry (orders too), and consumes nothing', async () => {
    const definition = await db.value<string>(`select pg_get_viewdef('staging.mapped_source'::regclass)`);
    // a warehouse whose order views know nothing of store B
    await db.pool.query(`create or replace view staging.mapped_source (source, entity, mapping_view) as
      select * from (${definition.replace(/;\s*$/, '')}) as m where not (m.source = 'store_b' and m.entity = 'order')`);
    const topic = await createTopic(1);
    try {
      const consumer = new KafkaConsumer(db.pool, {
        brokers: BROKERS,
        source: 'store_b_events',
        config: { ...kafkaSource({ sources: {} }, 'store_b_events'), topic, groupId: `g-${topic}` },
        transform: false,
      });
      await expect(consumer.start()).rejects.toThrow(/unknown source 'store_b' for orders: the warehouse maps orders of 'store_a'/);
      expect(await db.value(`select count(*) from etl.kafka_offset where topic = $1`, [topic])).toBe('0');
    } finally {
      await db.pool.query(`create or replace view staging.mapped_source (source, entity, mapping_view) as ${definition}`);
    }
  });
});
