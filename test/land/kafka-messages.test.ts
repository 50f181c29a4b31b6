import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChangeTimeReader } from '../../src/land/change-time.js';
import { readMessage } from '../../src/land/kafka-messages.js';
import { landBatch } from '../../src/land/staging-writer.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';

// A message is landed from the bytes it arrived in; one that starts with a byte order mark
// (which the UTF-8 decoder drops and PostgreSQL's JSON parser refuses) from its text.

const settings = { fallbackEncoding: 'cp1251' as const, times: new ChangeTimeReader({ format: 'iso', timezone: '+00:00' }), setting: 'sources.store_b_events' };
const message = (value: Buffer, offset = '0') => ({ topic: 't', partition: 0, offset, key: null, value, timestamp: '1796600000000' });
const event = '{"event":"company.upserted","occurred_at":"2026-11-02T10:00:00Z","data":{"id":"M-1","inn":"7707083893","title":"Ромашка"}}';

describe('a Kafka message as a staging record', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => {
    await db?.drop();
  });

  it('keeps the bytes it arrived in, unless they start with a byte order mark; both land as the same version', async () => {
    const plain = readMessage(message(Buffer.from(event)), settings);
    expect(plain.record.payloadBytes?.toString('utf8')).toBe(event);
    const marked = readMessage(message(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(event)]), '1'), settings);
    expect(marked.problem).toBeNull();
    expect(marked.record.payloadBytes).toBeUndefined();
    expect(marked.record.payloadText).toBe(event);
    const target = { source: 'store_b', entity: 'company' as const, origin: 'kafka-messages test' };
    expect((await landBatch(db.pool, target, [plain.record])).landed).toBe(1);
    // the same event with a mark is the same version: nothing new, nothing refused
    expect(await landBatch(db.pool, target, [marked.record])).toMatchObject({ landed: 0, refused: 0 });
    expect(await db.value(`select payload -> 'data' ->> 'title' from staging.record where source_key = 'M-1'`)).toBe('Ромашка');
  });
});
