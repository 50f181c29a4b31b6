import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kafkaSource, type KafkaSourceConfig } from '../../src/config.js';
import { KafkaConsumer } from '../../src/land/kafka.js';
import { readEventLines } from '../../src/generate/events.js';
import { STORE_B_EVENTS } from '../../src/generate/index.js';
import { runTransform } from '../../src/transform/run.js';
import { startCli } from '../helpers/cli.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { BROKERS, createTopic, kafkaAvailable, produce, resetKafkaOffsets } from '../helpers/kafka.js';
import { landSample, makeSample, type Sample } from '../helpers/sample.js';
import { orderMismatches } from '../helpers/truth.js';

const available = await kafkaAvailable();

function sourceConfig(topic: string, over: Partial<KafkaSourceConfig> = {}): KafkaSourceConfig {
  return { ...kafkaSource({ sources: {} }, 'store_b_events'), topic, groupId: `g-${topic}`, ...over };
}

/** What the consumers said, shown when a wait times out. */
const said: string[] = [];
const log = (line: string) => said.push(`${new Date().toISOString()} ${line}`);

async function until(what: string, check: () => Promise<boolean> | boolean, seconds = 120): Promise<void> {
  const deadline = Date.now() + seconds * 1000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${seconds}s waiting until ${what}; the consumers said:\n${said.slice(-30).join('\n')}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** One documented store B event (test/fixtures/store_b) into each partition, with ids of its own. */
async function produceToEachPartition(topic: string, partitions: number): Promise<void> {
  const [deletion] = readEventLines(join(import.meta.dirname, '..', 'fixtures', 'store_b', 'events.ndjson'))
    .map((line) => JSON.parse(line.toString('utf8')) as { event: string; data: { id: string } })
    .filter((e) => e.event === 'contact.deleted');
  const producer = new Kafka({ clientId: 'b2b-etl-tests', brokers: BROKERS, logLevel: logLevel.NOTHING }).producer();
  await producer.connect();
  try {
    for (let partition = 0; partition < partitions; partition++) {
      const value = JSON.stringify({ ...deletion, data: { id: `BC-P${partition}` } });
      await producer.send({ topic, messages: [{ partition, key: `BC-P${partition}`, value }] });
    }
  } finally {
    await producer.disconnect();
  }
}

const landedMessages = async (db: TestDatabase) => Number(await db.value(`select count(*) from staging.kafka_message`));

async function stagingState(db: TestDatabase): Promise<string[]> {
  const rows = await db.rows<{ v: string }>(`select entity || ':' || source_key || ':' || payload_hash || ':' || is_deleted as v from staging.record where source = 'store_b' order by 1`);
  return rows.map((r) => r.v);
}

async function canonicalState(db: TestDatabase): Promise<string[]> {
  const rows = await db.rows<{ v: string }>(`
    -- the live rows: a deleted row is history (a company or person that existed between two
    -- transforms), and which ones exist depends on when the debounced transforms ran
    select 'company:' || inn || ':' || coalesce(name, '') as v from canonical.company where not is_deleted
    union all
    select 'contact:' || c.inn || ':' || coalesce(ct.last_name, '') || ':' || array_to_string(ct.phones, ',')
    from canonical.contact ct join canonical.company c using (company_id) where not ct.is_deleted
    order by 1`);
  return rows.map((r) => r.v);
}

describe.skipIf(!available)('Kafka consumer against a real broker', () => {
  let sample: Sample;
  let lines: Buffer[];

  beforeAll(async () => {
    sample = await makeSample({ scale: 'small', seed: 21 });
    lines = readEventLines(join(sample.dir, STORE_B_EVENTS));
  });

  it('lands every event once, decodes cp1251, rejects malformed messages without stopping, and brings changes and deletions to canonical', async () => {
    const db = await createTestDatabase();
    const topic = await createTopic(3);
    try {
      await landSample(db.pool, sample);
      await runTransform(db.pool);
      await produce(topic, lines);
      const consumer = new KafkaConsumer(db.pool, { brokers: BROKERS, source: 'store_b_events', config: sourceConfig(topic), log });
      await consumer.start();
      await until('every message is landed', async () => (await landedMessages(db)) === lines.length);
      await consumer.stop(); // runs the transform still owed
      const truth = sample.truth.store_b_events;
      expect(consumer.stats).toMatchObject({ messages: lines.length, unparseable: truth.unparseable, cp1251: truth.cp1251 });
      expect(truth.unparseable).toBeGreaterThan(10);
      expect(truth.cp1251).toBeGreaterThan(10);
      // offsets: each partition's next offset in PostgreSQL adds up to every message
      expect(Number(await db.value(`select sum(next_offset) from etl.kafka_offset where topic = $1`, [topic]))).toBe(lines.length);
      // malformed messages are landed as they came and rejected, keyed by their position
      const bad = await db.rows<{ source_key: string; raw_text: string }>(`
        select r.source_key, s.raw_text from etl.rejection r join staging.record s using (staging_id)
        where r.reason = 'unparseable' and r.resolved_at is null`);
      // (what the consumer said, and the transform runs, shown if it fails: it failed once in CI, unexplained)
      const runs = await db.rows(`select run_id, kind, stats ->> 'batches' as batches, started_at, finished_at from etl.run order by run_id`);
      expect(bad.length, `${said.slice(-30).join('\n')}\n${JSON.stringify(runs)}\n` +
        JSON.stringify(await db.rows(`select batch_id, origin, rows_landed, transformed_at from staging.batch where transformed_at is null`))).toBe(truth.unparseable);
      expect(bad.every((b) => b.source_key.startsWith(`${topic}/`) && b.raw_text.length > 0)).toBe(true);
      expect(bad.some((b) => b.raw_text === 'not json at all')).toBe(true);

      const companies = new Map((await db.rows<{ source_key: string; name: string | null; is_deleted: boolean; inn: string | null }>(
        `select source_key, name, is_deleted, inn from etl.source_company where source = 'store_b'`)).map((r) => [r.source_key, r]));
      const problems: string[] = [];
      for (const [key, want] of Object.entries(truth.companies)) {
        const got = companies.get(key);
        if ('deleted' in want) {
          if (!got?.is_deleted) problems.push(`${key}: expected deleted, got ${JSON.stringify(got)}`);
        } else if (got?.name !== want.name || got.is_deleted) {
          problems.push(`${key}: expected ${want.name}, got ${JSON.stringify(got)}`);
        }
      }
      expect(problems.slice(0, 10)).toEqual([]);
      // canonical: the renamed companies carry the event's name (the newest record)
      const canonicalNames = new Map((await db.rows<{ inn: string; name: string; is_deleted: boolean }>(
        `select inn, name, is_deleted from canonical.company`)).map((r) => [r.inn, r]));
      const wrongNames = Object.entries(truth.names).filter(([inn, name]) => canonicalNames.get(inn)?.name !== name || canonicalNames.get(inn)?.is_deleted);
      expect(Object.keys(truth.names).length).toBeGreaterThan(100);
      expect(wrongNames.slice(0, 5)).toEqual([]);
      // a company whose every source record is deleted is marked deleted, not erased
      const orphaned = await db.value(`
        select count(*) from canonical.company c
        where c.is_deleted and not exists (select from canonical.company_source s join etl.source_company sc using (source, source_key)
          where s.company_id = c.company_id and sc.is_accepted)`);
      expect(Number(orphaned)).toBeGreaterThan(0);
      const deletedInns = [...companies.values()].filter((c) => c.is_deleted && c.inn).map((c) => c.inn!);
      expect(deletedInns.every((inn) => canonicalNames.has(inn))).toBe(true);
      // deleted contacts no longer feed canonical
      const deletedContacts = Object.entries(truth.contacts).filter(([, t]) => 'deleted' in t).map(([k]) => k);
      expect(await db.value(`select count(*) from etl.source_contact where source = 'store_b' and source_key = any($1) and (is_accepted or not is_deleted)`, [deletedContacts])).toBe('0');
      // orders: new ones, changed ones (the file's too), deleted ones, old ones arriving late
      expect(Object.values(truth.orders).filter((o) => o.deleted).length).toBeGreaterThan(0);
      expect(Object.keys(truth.orders).filter((k) => !k.startsWith('BO-E')).length).toBeGreaterThan(0);
      expect((await orderMismatches(db, 'store_b', truth.orders, true)).slice(0, 10)).toEqual([]);
    } finally {
      await db.drop();
    }
  });

  it('a restart resumes from the offsets in PostgreSQL, whatever Kafka has committed for the group', async () => {
    const db = await createTestDatabase();
    const topic = await createTopic(3);
    const config = sourceConfig(topic);
    const half = Math.floor(lines.length / 2);
    try {
      await produce(topic, lines.slice(0, half));
      const first = new KafkaConsumer(db.pool, { brokers: BROKERS, source: 'store_b_events', config, transform: false, log });
      await first.start();
      await until('the first half is landed', async () => (await landedMessages(db)) === half);
      await first.stop();
      await produce(topic, lines.slice(half));
      // Kafka's committed offsets for the group are moved to the end: as if a consumer had
      // committed in Kafka and crashed before PostgreSQL committed. PostgreSQL must win.
      await resetKafkaOffsets(config.groupId, topic, 'latest');
      const second = new KafkaConsumer(db.pool, { brokers: BROKERS, source: 'store_b_events', config, transform: false, log });
      await second.start();
      await until('the second half is landed', async () => (await landedMessages(db)) === lines.length);
      await second.stop();
      expect(second.stats.messages).toBe(lines.length - half);
      // and moved back to the start: as if PostgreSQL committed and Kafka did not. The third
      // consumer must skip every message landed; one new message per partition, produced
      // once it runs, shows it was given every partition and read on from PostgreSQL's offsets
      await resetKafkaOffsets(config.groupId, topic, 'earliest');
      const third = new KafkaConsumer(db.pool, { brokers: BROKERS, source: 'store_b_events', config, transform: false, log });
      await third.start();
      await produceToEachPartition(topic, 3);
      await until('the new message of every partition is landed', async () => (await landedMessages(db)) === lines.length + 3);
      await third.stop();
      expect(third.stats.messages).toBe(3);
      expect(await landedMessages(db)).toBe(lines.length + 3);
      expect(Number(await db.value(`select count(*) from staging.batch where origin like 'kafka:%'`))).toBeGreaterThan(0);
    } finally {
      await db.drop();
    }
  });

  it('kill -9 mid-run and a restart give the same staging and canonical state as an uninterrupted run; SIGTERM exits 0', async () => {
    const interrupted = await createTestDatabase();
    const straight = await createTestDatabase();
    const topic = await createTopic(3);
    // small fetches, so the run is many batches and the kill lands in the middle
    const configFile = join(sample.dir, 'consumer-config.json');
    writeFileSync(configFile, JSON.stringify({ sources: { store_b_events: { kafka: { topic, groupId: `g-${topic}`, fetchMaxBytesPerPartition: 16_384 } } } }));
    const env = { B2B_ETL_CONFIG: configFile, KAFKA_BROKERS: BROKERS.join(',') };
    try {
      for (const db of [interrupted, straight]) {
        await landSample(db.pool, sample);
        await runTransform(db.pool);
      }
      await produce(topic, lines);
      const args = ['consume', '--source', 'store_b_events', '--progress-seconds', '0'];
      const crashing = startCli(args, interrupted.url, env);
      await until('some batches are landed', async () => (await landedMessages(interrupted)) > 0, 60);
      crashing.child.kill('SIGKILL');
      expect((await crashing.done).signal).toBe('SIGKILL');
      const before = await landedMessages(interrupted);
      expect(before).toBeLessThan(lines.length);
      const restarted = startCli(args, interrupted.url, env);
      await until('every message is landed', async () => (await landedMessages(interrupted)) === lines.length, 120);
      await new Promise((r) => setTimeout(r, 500));
      restarted.child.kill('SIGTERM');
      const ended = await restarted.done;
      expect(ended.code, ended.stderr).toBe(0);
      expect(ended.stderr).toMatch(/SIGTERM: finishing the batch in flight/);

      const consumer = new KafkaConsumer(straight.pool, { brokers: BROKERS, source: 'store_b_events', config: sourceConfig(topic, { groupId: `straight-${topic}` }) });
      await consumer.start();
      await until('every message is landed', async () => (await landedMessages(straight)) === lines.length);
      await consumer.stop();
      await runTransform(interrupted.pool);
      await runTransform(straight.pool);
      expect(await stagingState(interrupted)).toEqual(await stagingState(straight));
      const canonical = await canonicalState(straight);
      expect(canonical.length).toBeGreaterThan(1000);
      expect(await canonicalState(interrupted)).toEqual(canonical);
    } finally {
      await interrupted.drop();
      await straight.drop();
    }
  });

  it('two consumers in one group share the partitions and land every message once', async () => {
    const db = await createTestDatabase();
    const topic = await createTopic(4);
    const config = sourceConfig(topic, { fetchMaxBytesPerPartition: 16_384 });
    try {
      const a = new KafkaConsumer(db.pool, { brokers: BROKERS, source: 'store_b_events', config, transform: false, clientId: 'member-a' });
      const b = new KafkaConsumer(db.pool, { brokers: BROKERS, source: 'store_b_events', config, transform: false, clientId: 'member-b' });
      await a.start();
      await b.start();
      await produce(topic, lines);
      await until('every message is landed', async () => (await landedMessages(db)) === lines.length);
      expect(a.stats.messages).toBeGreaterThan(0);
      expect(b.stats.messages).toBeGreaterThan(0);
      expect(a.stats.messages + b.stats.messages).toBe(lines.length);
      // one member leaves; the other takes its partitions and lands what comes next
      await a.stop();
      await produce(topic, lines.slice(0, 200));
      await until('the messages after the rebalance are landed', async () => (await landedMessages(db)) === lines.length + 200);
      await b.stop();
      expect(Number(await db.value(`select count(distinct (topic, partition, "offset")) from staging.kafka_message`))).toBe(lines.length + 200);
      expect(await db.value(`select count(*) from (select source, entity, source_key, payload_hash from staging.record group by 1, 2, 3, 4 having count(*) > 1) d`)).toBe('0');
    } finally {
      await db.drop();
    }
  });
});
