import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import iconv from 'iconv-lite';
import { describe, expect, it } from 'vitest';
import { readMessage } from '../../src/land/kafka-messages.js';
import { readEventLines } from '../../src/generate/events.js';
import { STORE_B_EVENTS } from '../../src/generate/index.js';
import { parseEntity } from '../../src/land/record.js';
import { landBatch } from '../../src/land/staging-writer.js';
import { createTestDatabase } from '../helpers/db.js';
import { makeSample } from '../helpers/sample.js';
import { ChangeTimeReader, microsToDate } from '../../src/land/change-time.js';

const FIXTURES = join(import.meta.dirname, '..', 'fixtures', 'store_b');
const lines = readEventLines(join(FIXTURES, 'events.ndjson'));
const expected = JSON.parse(readFileSync(join(FIXTURES, 'events.expected.json'), 'utf8')) as Array<{
  entity: string; key: string; deleted: boolean; updated_at: string; view?: Record<string, unknown>;
}>;

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Per event type, the fields store B's documented events carry (nested objects by dotted name). */
function documentedFields(): Map<string, Set<string>> {
  const fields = new Map<string, Set<string>>();
  const walk = (into: Set<string>, value: Json, prefix: string) => {
    for (const [key, v] of Object.entries(value)) {
      into.add(prefix + key);
      if (isObject(v)) walk(into, v, `${prefix}${key}.`);
    }
  };
  for (const line of lines) {
    const event = JSON.parse(line.toString('utf8')) as Json;
    const into = fields.get(event.event as string) ?? new Set<string>(['event', 'occurred_at', 'data']);
    walk(into, event.data as Json, 'data.');
    fields.set(event.event as string, into);
  }
  return fields;
}

/** The fields of one event that store B's documentation does not have; null when it is not an event of a documented type at all. */
function undocumented(event: unknown, documented: Map<string, Set<string>>): string[] | null {
  if (!isObject(event) || typeof event.event !== 'string' || !documented.has(event.event) || !isObject(event.data)) return null;
  const known = documented.get(event.event)!;
  const found: string[] = [];
  const walk = (value: Json, prefix: string) => {
    for (const [key, v] of Object.entries(value)) {
      if (!known.has(prefix + key)) found.push(prefix + key);
      else if (isObject(v)) walk(v, `${prefix}${key}.`);
    }
  };
  walk(event, '');
  return found;
}

describe("store B's events as the store documents them", () => {
  it('the fixture holds one event of each type', () => {
    expect([...documentedFields().keys()].sort()).toEqual(['company.deleted', 'company.upserted', 'contact.deleted', 'contact.upserted', 'order.deleted', 'order.upserted']);
  });

  it('the consumer reads each documented event as what it is, and the mapping views find every field', async () => {
    const db = await createTestDatabase();
    try {
      for (const [i, line] of lines.entries()) {
        const read = readMessage({ topic: 'store_b.events', partition: 0, offset: String(i), key: null, value: line, timestamp: '0' },
          { fallbackEncoding: 'cp1251', times: new ChangeTimeReader(), setting: 'sources.store_b_events' });
        const want = expected[i]!;
        expect(read.problem, `line ${i + 1}`).toBeNull();
        expect({ entity: read.entity, key: read.record.sourceKey, deleted: read.record.isDeleted, updated: microsToDate(read.record.updatedAt!).toISOString() })
          .toEqual({ entity: want.entity, key: want.key, deleted: want.deleted, updated: new Date(want.updated_at).toISOString() });
        await landBatch(db.pool, { source: 'store_b', entity: parseEntity(want.entity), origin: 'kafka:fixture' }, [read.record]);
      }
      for (const want of expected.filter((e) => e.view)) {
        const view = `staging.stg_store_b_events__${want.entity === 'company' ? 'companies' : want.entity === 'contact' ? 'contacts' : 'orders'}`;
        const columns = Object.keys(want.view!);
        const [row] = await db.rows(`select ${columns.join(', ')} from ${view} where source_key = $1`, [want.key]);
        expect(row, want.key).toEqual(want.view);
      }
    } finally {
      await db.drop();
    }
  });

  it("the generator's events carry only documented types and fields: exactly its deliberately malformed ones do not", async () => {
    const sample = await makeSample({ scale: 'small', seed: 51, companies: 300, contacts: 300, storeACompanies: 0, storeAContacts: 0, events: 2000 });
    const documented = documentedFields();
    let malformed = 0;
    const strays = new Set<string>();
    const types = new Set<string>();
    for (const bytes of readEventLines(join(sample.dir, STORE_B_EVENTS))) {
      let text: string;
      try {
        text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
      } catch {
        text = iconv.decode(bytes, 'win1251');
      }
      let event: unknown;
      try {
        event = JSON.parse(text);
      } catch {
        malformed += 1;
        continue;
      }
      const extra = undocumented(event, documented);
      if (extra === null) malformed += 1;
      else {
        extra.forEach((f) => strays.add(`${(event as Json).event}: ${f}`));
        types.add((event as Json).event as string);
      }
    }
    expect([...strays]).toEqual([]);
    expect([...types].sort()).toEqual([...documented.keys()].sort());
    expect(malformed).toBe(sample.truth.store_b_events.unparseable);
  });
});
