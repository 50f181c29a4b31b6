import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isoMicros } from '../../src/land/change-time.js';
import { landBatch } from '../../src/land/staging-writer.js';
import { parsePhone } from '../../src/transform/phones.js';
import { runTransform } from '../../src/transform/run.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';

describe('parsePhone', () => {
  it('brings every Russian way of writing a number to one E.164', () => {
    for (const text of ['8 (495) 123-45-67', '+7 495 123 45 67', '84951234567', '7(495)1234567', '+7 (495) 123-45-67']) {
      expect(parsePhone(text), text).toMatchObject({ e164: '+74951234567', extension: null });
    }
    expect(parsePhone('+7 916 123 45 67')).toMatchObject({ e164: '+79161234567', type: 'MOBILE' });
  });

  it('keeps the extension apart', () => {
    expect(parsePhone('8-916-1234567 доб. 12')).toMatchObject({ e164: '+79161234567', extension: '12' });
    expect(parsePhone('8 (495) 123-45-67 вн. 305')).toMatchObject({ e164: '+74951234567', extension: '305' });
  });

  it('does not invent numbers from junk', () => {
    for (const text of ['нет', '12-34', '-', '000', 'звонить секретарю', '+7 (000) 000-00-00']) {
      expect(parsePhone(text).e164, text).toBeNull();
    }
  });
});

describe('the phone step', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => {
    await db?.drop();
  });

  it('parses a batch\'s new phone texts for the dictionary in the region etl.setting names', async () => {
    await db.pool.query(`update etl.setting set value = 'BY' where name = 'phone_default_region'`);
    const updated = '2026-11-02T10:00:00+03:00';
    await landBatch(db.pool, { source: 'store_b', entity: 'company', origin: 'test' }, [{
      sourceKey: 'B-REGION-1', updatedAt: isoMicros(updated), isDeleted: false,
      payload: { id: 'B-REGION-1', inn: '7707083893', title: 'ООО «Минский филиал»', phones: ['8 029 123-45-67'], updated },
    }]);
    const run = await runTransform(db.pool);
    expect(run.phonesParsed).toBe(1);
    expect(await db.value(`select e164 from etl.phone_dictionary where raw = '8 029 123-45-67'`)).toBe('+375291234567');
  });
});
