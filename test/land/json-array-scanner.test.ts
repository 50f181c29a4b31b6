import { describe, expect, it } from 'vitest';
import { JsonArrayScanner, JsonStructureError } from '../../src/land/json-array-scanner.js';

/** Feeds text in pieces of every size from 1 to 7 characters, like arbitrary chunk borders. */
function scanAll(text: string, path?: string): unknown[] {
  const results: unknown[][] = [];
  for (const size of [1, 2, 3, 7, text.length]) {
    const scanner = new JsonArrayScanner(path);
    const values: unknown[] = [];
    for (let i = 0; i < text.length; i += size) {
      for (const e of scanner.feed(text.slice(i, i + size))) {
        expect(text.slice(e.offset, e.offset + e.text.length)).toBe(e.text);
        values.push(JSON.parse(e.text));
      }
      if (scanner.error) throw scanner.error;
    }
    scanner.end();
    results.push(values);
  }
  for (const r of results) expect(r).toEqual(results[0]);
  return results[0]!;
}

describe('JsonArrayScanner', () => {
  it('streams the elements of a top-level array, whatever the chunk borders', () => {
    const records = [{ id: 'B-1', title: 'ООО "Кавычки, и [скобки]"', tags: ['a', { b: '\\"}' }] }, 42, 'text', null, [1, [2]]];
    expect(scanAll(JSON.stringify(records, null, 2))).toEqual(records);
  });

  it('finds a nested array by key path and ignores its siblings', () => {
    const doc = { exported_at: '2026-01-01', meta: { contacts: ['not this'] }, contacts: [{ id: 1 }, { id: 2 }], after: [9] };
    expect(scanAll(JSON.stringify(doc), 'contacts')).toEqual([{ id: 1 }, { id: 2 }]);
    expect(scanAll(JSON.stringify({ data: { items: [{ x: 1 }] } }), 'data.items')).toEqual([{ x: 1 }]);
  });

  it('accepts an empty array', () => {
    expect(scanAll('[ ]')).toEqual([]);
  });

  it('reports structural errors with their offset', () => {
    const broken = '[{"id":1},,{"id":2}]';
    const scanner = new JsonArrayScanner();
    const first = scanner.feed(broken);
    expect(first.map((e) => e.text)).toEqual(['{"id":1}']);
    expect(scanner.error).toBeInstanceOf(JsonStructureError);
    expect(scanner.error!.offset).toBe(10);
  });

  it('fails on a missing array, an unclosed document and trailing text', () => {
    const missing = new JsonArrayScanner('contacts');
    missing.feed('{"other": []}');
    expect(() => missing.end()).toThrow(/no array at path 'contacts'/);
    const unclosed = new JsonArrayScanner();
    unclosed.feed('[{"id":1},');
    expect(() => unclosed.end()).toThrow(/not closed/);
    const trailing = new JsonArrayScanner();
    trailing.feed('[1] x');
    expect(trailing.error?.message).toMatch(/after the end/);
  });
});
