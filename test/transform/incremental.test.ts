import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeChanges } from '../../src/generate/changes.js';
import type { ManifestFile } from '../../src/generate/index.js';
import { isoMicros } from '../../src/land/change-time.js';
import { runTransform } from '../../src/transform/run.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { landSample, makeSample, type Sample } from '../helpers/sample.js';

// Canonical state with ids: what an incremental run must keep and a full run must reproduce.
const STATE_WITH_IDS = `
  select jsonb_build_object(
    'companies', (select jsonb_agg(to_jsonb(c) - 'updated_at' - 'first_seen_at' order by company_id) from canonical.company c),
    'company_sources', (select jsonb_agg(to_jsonb(s) - 'linked_at' order by source, source_key) from canonical.company_source s),
    'contacts', (select jsonb_agg(to_jsonb(c) - 'updated_at' - 'first_seen_at' order by contact_id) from canonical.contact c),
    'contact_sources', (select jsonb_agg(to_jsonb(s) - 'linked_at' order by source, source_key) from canonical.contact_source s),
    'deals', (select jsonb_agg(to_jsonb(d) - 'updated_at' - 'first_seen_at' order by deal_id) from canonical.deal d),
    'deal_items', (select jsonb_agg(to_jsonb(i) order by deal_id, line_no) from canonical.deal_item i),
    'rejections', (select jsonb_agg(jsonb_build_array(source, entity, source_key, reason, severity, value) order by source, entity, source_key, reason)
                   from etl.rejection where resolved_at is null)) as state`;

// The same state without ids, keyed by INN and by the source records each person is made of,
// to compare databases whose ids were handed out in another order.
const STATE_BY_CONTENT = `
  with person as (
    select c.contact_id, c.last_name, c.first_name, c.middle_name, c.position, c.phones, c.emails, c.phone_extensions,
      co.inn, array_agg(s.source || ':' || s.source_key order by s.source, s.source_key) as members
    from canonical.contact c
    join canonical.company co using (company_id)
    join canonical.contact_source s using (contact_id)
    where not c.is_deleted
    group by c.contact_id, co.inn
  )
  select jsonb_build_object(
    'companies', (select jsonb_agg(to_jsonb(c) - 'company_id' - 'updated_at' - 'first_seen_at' order by inn) from canonical.company c where not is_deleted),
    'company_sources', (select jsonb_agg(jsonb_build_array(c.inn, s.source, s.source_key) order by s.source, s.source_key)
                        from canonical.company_source s join canonical.company c using (company_id)),
    'contacts', (select jsonb_agg(to_jsonb(p) - 'contact_id' order by members) from person p),
    'deals', (select jsonb_agg(to_jsonb(d) - 'deal_id' - 'company_id' - 'contact_id' - 'row_hash' - 'updated_at' - 'first_seen_at'
                               || jsonb_build_object('inn', co.inn, 'person', p.members,
                                    'items', (select jsonb_agg(to_jsonb(i) - 'deal_id' order by line_no) from canonical.deal_item i where i.deal_id = d.deal_id))
                               order by d.source, d.source_key)
              from canonical.deal d join canonical.company co using (company_id) left join person p using (contact_id) where not d.is_deleted),
    'rejections', (select jsonb_agg(jsonb_build_array(source, entity, source_key, reason, severity, value) order by source, entity, source_key, reason)
                   from etl.rejection where resolved_at is null)) as state`;

let incremental: TestDatabase;
let full: TestDatabase;
let sample: Sample;
const rounds: ManifestFile[][] = [];

beforeAll(async () => {
  [incremental, full] = await Promise.all([createTestDatabase(), createTestDatabase()]);
  sample = await makeSample({ scale: 'small', seed: 11 });
  const changes = mkdtempSync(join(tmpdir(), 'b2b-etl-changes-'));
  for (let round = 1; round <= 3; round++) {
    rounds.push(await writeChanges({ dir: sample.dir, manifest: sample.manifest, out: changes, round, fraction: 0.05, seed: 11, at: `2026-11-0${round + 1}T09:00:00Z` }));
  }
  // incremental: land, transform; then each round of changes, transform again
  await landSample(incremental.pool, sample);
  await runTransform(incremental.pool);
  for (const manifest of rounds) {
    await landSample(incremental.pool, { ...sample, dir: changes, manifest });
    await runTransform(incremental.pool);
  }
  // full: everything landed first, one full transform
  await landSample(full.pool, sample);
  for (const manifest of rounds) await landSample(full.pool, { ...sample, dir: changes, manifest });
  await runTransform(full.pool, { full: true });
});
afterAll(async () => {
  await Promise.all([incremental.drop(), full.drop()]);
});

describe('incremental and full transform', () => {
  it('the rounds of changes really changed canonical: renames, merges, moves, fixes', async () => {
    expect(Number(await incremental.value(`select count(*) from canonical.company where name like '%(новое название)'`))).toBeGreaterThan(0);
    expect(Number(await incremental.value(`select count(*) from canonical.company where is_deleted`))).toBeGreaterThan(0);
    expect(Number(await incremental.value(`select count(*) from etl.rejection where resolved_at is not null`))).toBeGreaterThan(0);
    expect(Number(await incremental.value(`select count(*) from etl.merge where entity = 'contact' and merged_id is not null`))).toBeGreaterThan(0);
    // orders: changed stage, lines that no longer add up, deals of orders now out of the window
    expect(Number(await incremental.value(`select count(*) from canonical.deal where is_deleted`))).toBeGreaterThan(0);
    expect(Number(await incremental.value(`select count(*) from etl.rejection where entity = 'order' and resolved_at is not null`))).toBeGreaterThan(0);
    expect(Number(await incremental.value(`select count(*) from canonical.deal where updated_at > first_seen_at`))).toBeGreaterThan(0);
  });

  it('reach the same canonical state from one history', async () => {
    const a = await incremental.value(STATE_BY_CONTENT);
    const b = await full.value(STATE_BY_CONTENT);
    expect(a).toEqual(b);
  });

  it('keep canonical ids: a full rebuild after incremental runs changes nothing', async () => {
    const before = await incremental.value(STATE_WITH_IDS);
    await runTransform(incremental.pool, { full: true });
    const after = await incremental.value(STATE_WITH_IDS);
    expect(after).toEqual(before);
    // and an incremental run with nothing new is a no-op too
    const run = await runTransform(incremental.pool);
    expect(run.stats.company_records).toBe(0);
    expect(run.stats.order_records).toBe(0);
    expect(await incremental.value(STATE_WITH_IDS)).toEqual(before);
  });
});

describe('a batch landed while the transform starts', () => {
  it('waits for the next run instead of having its phones taken for invalid', async () => {
    const db = await createTestDatabase();
    try {
      const { landBatch } = await import('../../src/land/staging-writer.js');
      const company = { sourceKey: 'B-R1', updatedAt: isoMicros('2026-10-01T00:00:00Z'), isDeleted: false,
        payload: { id: 'B-R1', inn: '7707083893', title: 'ПАО Сбербанк', updated: '2026-10-01T00:00:00Z' } };
      await landBatch(db.pool, { source: 'store_b', entity: 'company', origin: 'test' }, [company]);
      const contact = { sourceKey: 'BC-R1', updatedAt: isoMicros('2026-10-01T00:00:00Z'), isDeleted: false,
        payload: { id: 'BC-R1', company_id: 'B-R1', name: 'Попов Иван Петрович', phones: ['8 (905) 982-40-32'], updated: '2026-10-01T00:00:00Z' } };
      // the contact commits after the phones were parsed and before the procedure starts
      await runTransform(db.pool, {
        afterDictionary: async () => { await landBatch(db.pool, { source: 'store_b', entity: 'contact', origin: 'test' }, [contact]); },
      });
      expect(await db.value(`select count(*) from staging.batch where transformed_at is null`)).toBe('1');
      expect(await db.value(`select count(*) from etl.source_contact`)).toBe('0');
      await runTransform(db.pool);
      expect(await db.value(`select array_to_string(phones, ',') from canonical.contact`)).toBe('+79059824032');
      expect(await db.value(`select count(*) from etl.rejection where reason = 'phone_invalid'`)).toBe('0');
    } finally {
      await db.drop();
    }
  });

  it('keeps batches with unparsed phone texts pending when an analyst calls the procedure, full or not, and returns the run id', async () => {
    const db = await createTestDatabase();
    try {
      const { landBatch } = await import('../../src/land/staging-writer.js');
      const company = { sourceKey: 'B-P1', updatedAt: isoMicros('2026-10-01T00:00:00Z'), isDeleted: false,
        payload: { id: 'B-P1', inn: '7707083893', title: 'ПАО Сбербанк', phones: ['8 (495) 500-55-50', 'нет'], updated: '2026-10-01T00:00:00Z' } };
      const contact = { sourceKey: 'BC-P1', updatedAt: isoMicros('2026-10-01T00:00:00Z'), isDeleted: false,
        payload: { id: 'BC-P1', company_id: 'B-P1', name: 'Попов Иван Петрович', phones: ['8 (905) 982-40-32', '8 (495) 500-55-50'], updated: '2026-10-01T00:00:00Z' } };
      await landBatch(db.pool, { source: 'store_b', entity: 'company', origin: 'test' }, [company]);
      await landBatch(db.pool, { source: 'store_b', entity: 'contact', origin: 'test' }, [contact]);
      // straight from SQL, as the README's recipe does, without `b2b-etl transform` parsing the phones first
      const client = await db.pool.connect();
      const notices: string[] = [];
      client.on('notice', (n) => notices.push(n.message ?? ''));
      const runIds: string[] = [];
      try {
        for (const call of ['call etl.transform()', 'call etl.transform(full => true)']) {
          const { rows } = await client.query<{ run_id: string }>(call);
          runIds.push(rows[0]!.run_id);
        }
      } finally {
        client.release();
      }
      // each call says which run it was, and that run says the batches wait
      const runs = await db.rows<{ run_id: string; kind: string; held: string }>(
        `select run_id::text, kind, stats ->> 'batches_held_for_phones' as held from etl.run order by run_id`);
      expect(runs).toEqual([{ run_id: runIds[0], kind: 'incremental', held: '2' }, { run_id: runIds[1], kind: 'full', held: '2' }]);
      expect(notices.join('\n')).toMatch(/2 batches wait: their phone texts are not in etl\.phone_dictionary/);
      expect(await db.value(`select count(*) from staging.batch where transformed_at is null`)).toBe('2');
      expect(await db.value(`select count(*) from etl.rejection where reason = 'phone_invalid'`)).toBe('0');
      expect(await db.value(`select count(*) from etl.source_contact`)).toBe('0');
      // parsed and transformed: nothing is missing, the one real bad text is the one rejected
      const vacuumed = `select last_vacuum is not null from pg_stat_user_tables where relid = 'canonical.contact'::regclass`;
      expect(await db.value(vacuumed)).toBe(false);
      const result = await runTransform(db.pool, { full: true });
      expect(result.runId).toBe(Number(runIds[1]) + 1);
      expect(await db.value(`select stats ->> 'phones_not_in_dictionary' from etl.run order by run_id desc limit 1`)).toBe('0');
      expect(await db.value(`select stats ->> 'big_run' from etl.run order by run_id desc limit 1`)).toBe('true');
      expect(await db.value(vacuumed)).toBe(true);
      expect(await db.value(`select array_to_string(phones, ',') from canonical.contact`)).toBe('+79059824032,+74955005550');
      expect(await db.rows(`select source_key, value from etl.rejection where reason = 'phone_invalid'`)).toEqual([{ source_key: 'B-P1', value: 'нет' }]);
    } finally {
      await db.drop();
    }
  });
});
