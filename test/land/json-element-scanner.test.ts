import { describe, expect, it } from 'vitest';
import { collector, compactJson, JsonArrayScanner, JsonStructureError, NdjsonScanner, type ScannedElement } from '../../src/land/json-element-scanner.js';

type Scanner = JsonArrayScanner | NdjsonScanner;
const ignore = () => {};

/**
 * Feeds the document's bytes in pieces of 1, 2, 3 and 7 bytes and whole (chunk borders
 * anywhere, also inside a Cyrillic letter's two bytes); every way must give the same records.
 */
function scanAll(text: string, make: () => Scanner): { values: unknown[]; elements: Omit<ScannedElement, 'bytes'>[] } {
  const doc = Buffer.from(text);
  const runs: { values: unknown[]; elements: Omit<ScannedElement, 'bytes'>[] }[] = [];
  for (const size of [1, 2, 3, 7, doc.length]) {
    const scanner = make();
    const found = collector();
    const run = { values: [] as unknown[], elements: [] as Omit<ScannedElement, 'bytes'>[] };
    const take = (elements: ScannedElement[]) => {
      for (const { bytes, ...rest } of elements) {
        // the offset points at the record's bytes in the whole document
        expect(doc.subarray(rest.offset, rest.offset + bytes.length).equals(bytes)).toBe(true);
        run.values.push(JSON.parse(bytes.toString()));
        run.elements.push(rest);
      }
    };
    for (let i = 0; i < doc.length; i += size) {
      scanner.feed(doc.subarray(i, i + size), found.visit);
      take(found.take());
      if (scanner.error) throw scanner.error;
    }
    scanner.end(found.visit);
    take(found.take());
    if (scanner.error) throw scanner.error;
    runs.push(run);
  }
  for (const run of runs) expect(run).toEqual(runs[0]);
  return runs[0]!;
}

const array = (path?: string, fields?: string[]) => () => new JsonArrayScanner(path, fields);

describe('JsonArrayScanner', () => {
  it('streams the elements of a top-level array, whatever the chunk borders', () => {
    const records = [{ id: 'B-1', title: 'ООО "Кавычки, и [скобки]"', tags: ['a', { b: '\\"}' }] }, 42, 'text', null, [1, [2]], true];
    expect(scanAll(JSON.stringify(records, null, 2), array()).values).toEqual(records);
    expect(scanAll(JSON.stringify(records), array()).values).toEqual(records);
  });

  it('finds a nested array by key path and ignores its siblings', () => {
    const doc = { exported_at: '2026-01-01', meta: { contacts: ['not this'] }, contacts: [{ id: 1 }, { id: 2 }], after: [9] };
    expect(scanAll(JSON.stringify(doc), array('contacts')).values).toEqual([{ id: 1 }, { id: 2 }]);
    expect(scanAll(JSON.stringify({ data: { items: [{ x: 1 }] } }), array('data.items')).values).toEqual([{ x: 1 }]);
  });

  it('reads the wanted top-level fields as JSON text, not the same names deeper down', () => {
    const records = [
      { id: 'B-1', bank: { id: 'not this', updated: 'nor this' }, updated: '2026-03-01T10:00:00Z' },
      { updated: 1767225600000, deleted: true, id: 17 },
      { id: 'B-\u0417\\"3', updated: null, deleted: { nested: true } },
      { other: ['id', 'updated'] },
    ];
    const { elements } = scanAll(JSON.stringify(records, null, 1), array(undefined, ['id', 'updated', 'deleted']));
    expect(elements.map((e) => e.fields)).toEqual([
      ['"B-1"', '"2026-03-01T10:00:00Z"', null],
      ['17', '1767225600000', 'true'],
      ['"B-З\\\\\\"3"', 'null', null],
      [null, null, null],
    ]);
  });

  it('marks records with whitespace between tokens, and compacts them without touching strings', () => {
    const { elements } = scanAll('[{"a":1},\n  { "b" : [1, 2],\t"c": " x  y " }\n]', array());
    expect(elements.map((e) => e.spaced)).toEqual([false, true]);
    expect(compactJson(Buffer.from('{ "b" : [1, 2],\t"c": " x  y \\" " }')).toString()).toBe('{"b":[1,2],"c":" x  y \\" "}');
  });

  it('reads records longer than several chunks', () => {
    const long = { id: 'B-1', note: 'Ж'.repeat(150_000), tags: Array.from({ length: 5000 }, (_, i) => `t${i}`) };
    const records = [{ id: 'B-0' }, long, { id: 'B-2' }];
    const doc = Buffer.from(JSON.stringify(records));
    for (const size of [50_000, 100_000]) {
      const scanner = new JsonArrayScanner(undefined, ['id']);
      const found = collector();
      for (let i = 0; i < doc.length; i += size) scanner.feed(doc.subarray(i, i + size), found.visit);
      scanner.end(found.visit);
      const elements = found.take();
      expect(elements.map((e) => JSON.parse(e.bytes.toString()))).toEqual(records);
      expect(elements.map((e) => e.fields[0])).toEqual(['"B-0"', '"B-1"', '"B-2"']);
      expect(elements[2]!.offset).toBe(doc.length - '{"id":"B-2"}]'.length);
    }
    const lines = Buffer.from(records.map((r) => JSON.stringify(r)).join('\n'));
    const ndjson = new NdjsonScanner(['id']);
    const found = collector();
    for (let i = 0; i < lines.length; i += 50_000) ndjson.feed(lines.subarray(i, i + 50_000), found.visit);
    ndjson.end(found.visit);
    expect(found.take().map((e) => JSON.parse(e.bytes.toString()))).toEqual(records);
  });

  it('accepts an empty array and a byte order mark', () => {
    expect(scanAll('[ ]', array()).values).toEqual([]);
    const withBom = scanAll('\ufeff[{"id":1}]', array());
    expect(withBom.values).toEqual([{ id: 1 }]);
    expect(withBom.elements[0]!.offset).toBe(4);
  });

  it('reports structural errors with their byte offset', () => {
    const broken = Buffer.from('[{"id":"Ж"},,{"id":2}]');
    const scanner = new JsonArrayScanner(undefined);
    const first = collector();
    scanner.feed(broken, first.visit);
    expect(first.take().map((e) => e.bytes.toString())).toEqual(['{"id":"Ж"}']);
    expect(scanner.error).toBeInstanceOf(JsonStructureError);
    expect(scanner.error!.offset).toBe(13); // 'Ж' is two bytes
    const missingComma = new JsonArrayScanner(undefined);
    missingComma.feed(Buffer.from('[{"id":1} {"id":2}]'), ignore);
    expect(missingComma.error?.message).toMatch(/expected ',' or ']'/);
    const trailingComma = new JsonArrayScanner(undefined);
    trailingComma.feed(Buffer.from('[1,]'), ignore);
    expect(trailingComma.error?.message).toBe('expected a value');
  });

  it('fails on a missing array, an unclosed document and trailing text', () => {
    const missing = new JsonArrayScanner('contacts');
    missing.feed(Buffer.from('{"other": []}'), ignore);
    expect(() => missing.end(ignore)).toThrow(/no array at path 'contacts'/);
    const unclosed = new JsonArrayScanner(undefined);
    unclosed.feed(Buffer.from('[{"id":1},{"id":'), ignore);
    expect(() => unclosed.end(ignore)).toThrow(/not closed/);
    const trailing = new JsonArrayScanner(undefined);
    trailing.feed(Buffer.from('[1] x'), ignore);
    expect(trailing.error?.message).toMatch(/after the end/);
    const notArray = new JsonArrayScanner(undefined);
    notArray.feed(Buffer.from('{"id": 1}'), ignore);
    expect(notArray.error?.message).toBe('expected an array at the top level');
  });
});

describe('NdjsonScanner', () => {
  it('reads one record per line, skipping blank lines, with CRLF and no final newline', () => {
    const text = '{"id":"BC-1","n":"Ёлка"}\r\n\n  {"id": 2}  \n{"id":"BC-3"}';
    const { values, elements } = scanAll(text, () => new NdjsonScanner(['id']));
    expect(values).toEqual([{ id: 'BC-1', n: 'Ёлка' }, { id: 2 }, { id: 'BC-3' }]);
    expect(elements.map((e) => e.fields[0])).toEqual(['"BC-1"', '2', '"BC-3"']);
    expect(elements.map((e) => e.spaced)).toEqual([false, true, false]);
  });

  it('stops at a line that is not one whole value, at the place JSON.parse names', () => {
    const scanner = new NdjsonScanner();
    const good = collector();
    scanner.feed(Buffer.from('{"id":1}\n{"id":2\n{"id":3}\n'), good.visit);
    expect(good.take()).toHaveLength(1);
    expect(scanner.error?.offset).toBe(9 + '{"id":2'.length);
    const extra = new NdjsonScanner();
    extra.feed(Buffer.from('{"id":1} {"id":2}\n'), ignore);
    expect(extra.error?.offset).toBe(9);
  });
});

/**
 * One document fed in 64 KiB chunks through one buffer that is spoilt after each feed (the
 * file reader reads into its buffers again), collecting what the scanner visits.
 */
function feedThroughOneBuffer(doc: Buffer, scanner: Scanner): ScannedElement[] {
  const size = 64 << 10;
  const chunk = Buffer.alloc(size);
  const found = collector();
  for (let i = 0; i < doc.length; i += size) {
    const piece = chunk.subarray(0, doc.copy(chunk, 0, i, i + size));
    scanner.feed(piece, found.visit);
    piece.fill(0x7d); // '}'
    if (scanner.error) throw scanner.error;
  }
  scanner.end(found.visit);
  return found.take();
}

/** A document of one record about `bytes` long: a key, then a long string and an array of short ones. */
function oneLongRecord(bytes: number): { id: string; note: string; tags: string[] } {
  return { id: 'L-1', note: 'Ж'.repeat(bytes / 4), tags: Array.from({ length: bytes / 20 }, (_, i) => `tag-${i}`) };
}

describe('a record cut across many chunks', () => {
  it('is read once and copied a bounded number of times: the work grows with its length, not its square', () => {
    const perByte: number[] = [];
    for (const size of [1 << 20, 4 << 20, 16 << 20]) {
      const record = oneLongRecord(size);
      const doc = Buffer.from(JSON.stringify([{ id: 'S-0' }, record, { id: 'S-2' }]));
      const scanner = new JsonArrayScanner(undefined, ['id']);
      const elements = feedThroughOneBuffer(doc, scanner);
      expect(elements.map((e) => e.fields[0])).toEqual(['"S-0"', '"L-1"', '"S-2"']);
      expect(JSON.parse(elements[1]!.bytes.toString())).toEqual(record);
      // every byte read once; the long record copied into a buffer of its own that doubles as it grows
      expect(scanner.work.scanned).toBe(doc.length);
      expect(scanner.work.copied).toBeLessThan(3 * doc.length);
      perByte.push(scanner.work.scanned / doc.length);
    }
    expect(new Set(perByte).size).toBe(1);
  });

  it('a long line of NDJSON and a long value beside the wanted array cost the same linear work', () => {
    for (const size of [1 << 20, 16 << 20]) {
      const record = oneLongRecord(size);
      const lines = Buffer.from(`${JSON.stringify({ id: 'S-0' })}\n${JSON.stringify(record)}\n${JSON.stringify({ id: 'S-2' })}\n`);
      const ndjson = new NdjsonScanner(['id']);
      expect(feedThroughOneBuffer(lines, ndjson).map((e) => e.fields[0])).toEqual(['"S-0"', '"L-1"', '"S-2"']);
      // the line's end is searched for as its chunks come, then the whole line is read once
      expect(ndjson.work.scanned).toBeLessThanOrEqual(2 * lines.length);
      expect(ndjson.work.copied).toBeLessThan(3 * lines.length);

      const nested = Buffer.from(JSON.stringify({ exported: record.note, [record.note.slice(0, size / 8)]: 1, contacts: [{ id: 'S-0' }] }));
      const path = new JsonArrayScanner('contacts', ['id']);
      expect(feedThroughOneBuffer(nested, path).map((e) => e.fields[0])).toEqual(['"S-0"']);
      expect(path.work.scanned).toBe(nested.length);
      expect(path.work.copied).toBeLessThan(3 * nested.length);
    }
  });

  it('keeps nothing of a chunk past its feed: cut keys, strings, numbers and records come out whole', () => {
    const records = [{ id: 'K-1', 'ключ с пробелом': 'значение'.repeat(9000) }, 12345678901234567890n.toString(), { id: 'K-3', n: 1.5e300 }];
    const text = `{"before": "${'x'.repeat(70_000)}", "n": ${'1'.repeat(70_000)}, "${'k'.repeat(70_000)}": [], "contacts": ${JSON.stringify(records)}}`;
    const elements = feedThroughOneBuffer(Buffer.from(text), new JsonArrayScanner('contacts', ['id']));
    expect(elements.map((e) => JSON.parse(e.bytes.toString()))).toEqual(records);
    const lines = records.map((r) => JSON.stringify(r)).join('\n');
    expect(feedThroughOneBuffer(Buffer.from(lines), new NdjsonScanner()).map((e) => JSON.parse(e.bytes.toString()))).toEqual(records);
  });
});
