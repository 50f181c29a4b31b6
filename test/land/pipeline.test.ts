import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EarlierLandingFailed, LandingPipeline, TooManyBadRecords, type Landing } from '../../src/land/pipeline.js';
import { RecordBatch } from '../../src/land/staging-writer.js';
import { unparseable } from '../../src/land/record.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';

// The one writer every source lands through, on a real PostgreSQL: its bad-record policy,
// its order within a lane, and a landing done again without what another member landed.

const target = { source: 'store_b', entity: 'company' as const, origin: 'pipeline test' };

/** A batch of company records: `good` keys land as JSON, `raw` keys as unreadable text, `refused` keys as JSON PostgreSQL refuses. */
function batch(keys: { good?: string[]; raw?: string[]; refused?: string[] }): RecordBatch {
  const rows = new RecordBatch(target);
  for (const key of keys.good ?? []) rows.add(key, null, false, JSON.stringify({ id: key }));
  for (const key of keys.raw ?? []) rows.addRaw(key, null, false, `not json ${key}`, [unparseable(`record ${key}: not JSON`)]);
  // a lone surrogate: JavaScript writes it, jsonb refuses it
  for (const key of keys.refused ?? []) rows.add(key, null, false, `{"id":"${key}","title":"\\ud800"}`);
  return rows;
}

const keysOf = (rows: RecordBatch, keys: string[]) => ({ target, rows, locate: (tuple: number) => `record ${keys[tuple - 1]}` });

describe('the landing pipeline', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase();
    await db.pool.query('create table test_position (lane text, at int)');
  });
  afterAll(async () => {
    await db?.drop();
  });

  const landedKeys = async () => (await db.rows<{ source_key: string }>(`select source_key from staging.record order by source_key`)).map((r) => r.source_key);
  const reset = () => db.pool.query('truncate staging.record, staging.batch cascade; truncate test_position');

  it('counts bad records of landings in flight together: the one past the limit stops, naming the setting and the record', async () => {
    await reset();
    const pipeline = new LandingPipeline(db.pool, { badRecords: { max: 1, setting: 'sources.store_b.maxBadRecords' }, inFlight: 2 });
    await pipeline.write({ lane: 'a', batches: [keysOf(batch({ good: ['A1'], raw: ['A2'] }), ['A1', 'A2'])] });
    await pipeline.write({ lane: 'b', batches: [keysOf(batch({ good: ['B1'], raw: ['B2'] }), ['B1', 'B2'])] });
    const stop = await pipeline.finish().then(() => null, (e: unknown) => e);
    expect(stop).toBeInstanceOf(TooManyBadRecords);
    expect((stop as Error).message).toBe('more than 1 records could not be landed as they are (sources.store_b.maxBadRecords); the landing stopped at record B2: not JSON');
    // the first landing, within the limit, is landed with its bad record raw
    expect(await landedKeys()).toEqual(['A1', 'A2']);
    expect(pipeline.stats).toMatchObject({ records: 2, bad: 1, batches: 1 });
  });

  it('a record PostgreSQL refuses lands raw and rejected within the limit, with where it came from; past it the landing stops and lands nothing', async () => {
    await reset();
    const within = new LandingPipeline(db.pool, { badRecords: { max: 1, setting: '--max-errors' } });
    await within.land({ lane: 'a', batches: [keysOf(batch({ good: ['C1'], refused: ['C2'] }), ['C1', 'C2'])] });
    const raw = await db.rows<{ source_key: string; detail: string }>(
      `select source_key, landing_issues -> 0 ->> 'detail' as detail from staging.record where payload is null`);
    expect(raw).toHaveLength(1);
    expect(raw[0]!.source_key).toBe('C2');
    expect(raw[0]!.detail).toMatch(/^record C2: PostgreSQL refused the JSON: /);

    const past = new LandingPipeline(db.pool, { badRecords: { max: 0, setting: '--max-errors' } });
    const stop = await past.land({ lane: 'a', batches: [keysOf(batch({ good: ['D1'], refused: ['D2'] }), ['D1', 'D2'])] }).then(() => null, (e: unknown) => e);
    expect(stop).toBeInstanceOf(TooManyBadRecords);
    expect((stop as Error).message).toMatch(/^more than 0 records could not be landed as they are \(--max-errors\); the landing stopped at record D2: PostgreSQL refused the JSON/);
    expect(await landedKeys()).toEqual(['C1', 'C2']);
  });

  it('commits a lane in order: a landing after a failed one in its lane does not commit, and the failure reported is the first', async () => {
    await reset();
    const pipeline = new LandingPipeline(db.pool, { badRecords: { max: Infinity, setting: 'x' }, inFlight: 2 });
    const position = (lane: string, at: number, fail = false): Landing['position'] => async (client) => {
      if (fail) throw new Error(`the position of ${lane} ${at} could not be stored`);
      await client.query('insert into test_position values ($1, $2)', [lane, at]);
    };
    let second: unknown = null;
    const first = pipeline.land({ lane: 'p', batches: [keysOf(batch({ good: ['E1'] }), ['E1'])], position: position('p', 1, true) });
    first.catch(() => {});
    const after = pipeline.land({ lane: 'p', batches: [keysOf(batch({ good: ['E2'] }), ['E2'])], position: position('p', 2) });
    await after.catch((e: unknown) => { second = e; });
    await expect(first).rejects.toThrow('the position of p 1 could not be stored');
    expect(second).toBeInstanceOf(EarlierLandingFailed);
    // another lane is not held back
    await pipeline.land({ lane: 'q', batches: [keysOf(batch({ good: ['F1'] }), ['F1'])], position: position('q', 1) });
    expect(await landedKeys()).toEqual(['F1']);
    expect(await db.rows('select lane, at from test_position')).toEqual([{ lane: 'q', at: 1 }]);

    // through write(), the failure that stops the pipeline is the first one, never the consequence
    const writes = new LandingPipeline(db.pool, { badRecords: { max: Infinity, setting: 'x' }, inFlight: 2 });
    await writes.write({ lane: 'p', batches: [keysOf(batch({ good: ['G1'] }), ['G1'])], position: position('p', 3, true) });
    await writes.write({ lane: 'p', batches: [keysOf(batch({ good: ['G2'] }), ['G2'])], position: position('p', 4) });
    await expect(writes.finish()).rejects.toThrow('the position of p 3 could not be stored');
  });

  it('lands a landing again as its redo says, and only that', async () => {
    await reset();
    class Overlap extends Error {}
    const pipeline = new LandingPipeline(db.pool, { badRecords: { max: Infinity, setting: 'x' } });
    const committed: string[][] = [];
    const landing = (keys: string[], overlapped: boolean): Landing => ({
      lane: 'p',
      batches: [keysOf(batch({ good: keys }), keys)],
      position: async () => { if (overlapped) throw new Overlap(); },
      redo: (e) => (e instanceof Overlap ? landing(keys.slice(2), false) : undefined),
      committed: () => committed.push(keys),
    });
    const landed = await pipeline.land(landing(['H1', 'H2', 'H3'], true));
    expect(landed.map((b) => b.landed)).toEqual([1]);
    expect(await landedKeys()).toEqual(['H3']);
    expect(committed).toEqual([['H3']]);
    expect(pipeline.stats).toMatchObject({ records: 1, landed: 1 });
  });
});
