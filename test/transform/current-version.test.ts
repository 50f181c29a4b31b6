import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isoMicros } from '../../src/land/change-time.js';
import { unparseable } from '../../src/land/record.js';
import { landBatch, RecordBatch } from '../../src/land/staging-writer.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';

// staging.current_version holds the one rule for "the current version of a record", which
// the transform and --reconcile-deletes both read: checked here on versions landed as loaders
// land them.

const target = { source: 'store_b', entity: 'company' as const, origin: 'current version test' };
const at = (iso: string) => isoMicros(iso);

describe('staging.current_version', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => {
    await db?.drop();
  });

  const land = async (fill: (rows: RecordBatch) => void) => {
    const rows = new RecordBatch(target);
    fill(rows);
    return landBatch(db.pool, target, rows);
  };
  const current = async (key: string) => db.rows<{ title: string | null; raw_text: string | null; has_newer_unreadable: boolean }>(
    `select payload ->> 'title' as title, raw_text, has_newer_unreadable from staging.current_version where source = 'store_b' and entity = 'company' and source_key = $1`, [key]);

  it('is the latest by change time, then by landing; one per record', async () => {
    // landed out of order: the older change arrives last
    await land((r) => r.add('1', at('2026-11-02T10:00:00Z'), false, '{"title":"newer"}'));
    await land((r) => r.add('1', at('2026-11-01T10:00:00Z'), false, '{"title":"older"}'));
    expect(await current('1')).toEqual([{ title: 'newer', raw_text: null, has_newer_unreadable: false }]);
    // without a change time, the latest landed wins
    await land((r) => r.add('2', null, false, '{"title":"first read"}'));
    await land((r) => r.add('2', null, false, '{"title":"second read"}'));
    expect(await current('2')).toEqual([{ title: 'second read', raw_text: null, has_newer_unreadable: false }]);
  });

  it('takes a version that could not be read only when there is no other, and says when a newer one could not be read', async () => {
    await land((r) => r.add('3', at('2026-11-01T10:00:00Z'), false, '{"title":"readable"}'));
    await land((r) => r.addRaw('3', at('2026-11-03T10:00:00Z'), false, '{"title": broken', [unparseable('not JSON')]));
    expect(await current('3')).toEqual([{ title: 'readable', raw_text: null, has_newer_unreadable: true }]);
    await land((r) => r.addRaw('4', null, false, 'broken', [unparseable('not JSON')]));
    expect(await current('4')).toEqual([{ title: null, raw_text: 'broken', has_newer_unreadable: false }]);
  });

  it('leaves out the versions of batches the transform holds back', async () => {
    await land((r) => r.add('5', at('2026-11-01T10:00:00Z'), false, '{"title":"taken"}'));
    const held = await land((r) => r.add('5', at('2026-11-05T10:00:00Z'), false, '{"title":"held"}'));
    await db.pool.query('insert into staging.held_batch values ($1)', [held.batchId]);
    expect(await current('5')).toEqual([{ title: 'taken', raw_text: null, has_newer_unreadable: false }]);
    await db.pool.query('delete from staging.held_batch');
    expect(await current('5')).toEqual([{ title: 'held', raw_text: null, has_newer_unreadable: false }]);
  });
});
