import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { collector, JsonArrayScanner, NdjsonScanner } from '../../src/land/json-element-scanner.js';

/**
 * The hand-written scanner against a reference: JSON.parse of the whole document (the
 * array at the path), or of each line for NDJSON. Generated documents, and the same
 * documents mutated, fed in chunks cut at every position; the scanner plus the per-record
 * check the server makes when a record lands must accept exactly what the reference
 * accepts, find the same records, and, for generated documents, at the same byte ranges.
 * The pieces come through one buffer, spoilt after each feed, as the file reader's do.
 */

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type Kind = { kind: 'array' } | { kind: 'path'; path: string } | { kind: 'ndjson' };
interface Doc { bytes: Buffer; kind: Kind; fields: string[]; records?: Array<{ offset: number; length: number }> }
interface Verdict { accepted: boolean; values: unknown[]; ranges: Array<{ offset: number; length: number }>; fields: unknown[][] }

/** A wanted field the record lacks, or holds an object or array in. */
const ABSENT = Symbol('absent');

const FIELDS = ['id', 'updated'];

/** A small deterministic generator of formatting choices. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** JSON text of a value with random whitespace, escapes and number spellings (still valid JSON). */
function render(value: Json, r: () => number, oneLine = false): string {
  const spaces = oneLine ? ['', '', ' ', '\t'] : ['', '', ' ', '\n', '\t', '\r\n', '  \n  '];
  const ws = () => spaces[Math.floor(r() * spaces.length)]!;
  const str = (s: string) => {
    let out = '"';
    for (const ch of s) {
      const code = ch.codePointAt(0)!;
      if (ch === '"' || ch === '\\' || code < 0x20) out += r() < 0.5 ? JSON.stringify(ch).slice(1, -1) : `\\u${code.toString(16).padStart(4, '0')}`;
      else if (ch === '/' && r() < 0.5) out += '\\/';
      else if (code > 0xffff && r() < 0.3) out += JSON.stringify(ch).slice(1, -1).replace(/[\ud800-\udfff]/g, (c) => `\\u${c.charCodeAt(0).toString(16)}`);
      else if (r() < 0.05) out += [...ch].map((c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`).join('');
      else out += ch;
    }
    return `${out}"`;
  };
  const num = (n: number) => {
    if (Object.is(n, -0)) return '-0';
    const roll = r();
    if (Number.isInteger(n) && Math.abs(n) < 1e15 && roll < 0.2) return `${n}.0`;
    if (roll < 0.4) return n.toExponential().replace('e+', r() < 0.5 ? 'E+' : 'e');
    return JSON.stringify(n);
  };
  const go = (v: Json): string => {
    if (v === null) return 'null';
    if (typeof v === 'boolean') return String(v);
    if (typeof v === 'number') return num(v);
    if (typeof v === 'string') return str(v);
    if (Array.isArray(v)) return v.length === 0 ? `[${ws()}]` : `[${v.map((x) => ws() + go(x) + ws()).join(',')}]`;
    const keys = Object.keys(v);
    return keys.length === 0 ? `{${ws()}}` : `{${keys.map((k) => `${ws()}${str(k)}${ws()}:${ws()}${go(v[k]!)}${ws()}`).join(',')}}`;
  };
  return go(value);
}

const record: fc.Arbitrary<Json> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ id: fc.oneof(fc.string(), fc.integer(), fc.constant(null)), updated: fc.oneof(fc.string(), fc.double({ noNaN: true, noDefaultInfinity: true })) }, { requiredKeys: [] })
    .chain((known) => fc.dictionary(fc.string({ maxLength: 6 }), fc.jsonValue({ maxDepth: 3 }) as fc.Arbitrary<Json>, { maxKeys: 4 }).map((rest) => ({ ...rest, ...known }) as Json)) },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 3 }) as fc.Arbitrary<Json> },
  { weight: 1, arbitrary: fc.string({ unit: 'binary' }) as fc.Arbitrary<Json> },
);

/** A document with its records and their byte ranges, as the generator wrote it. */
function build(kind: Kind, records: Json[], siblings: Json[], seed: number, bom: boolean): Doc {
  const r = rng(seed);
  const ws = () => ['', ' ', '\n', '\r\n\t'][Math.floor(r() * 4)]!;
  const parts: string[] = [];
  const ranges: Array<{ offset: number; length: number }> = [];
  let size = 0;
  const emit = (text: string, isRecord = false) => {
    const bytes = Buffer.byteLength(text);
    if (isRecord) ranges.push({ offset: size, length: bytes });
    parts.push(text);
    size += bytes;
  };
  if (bom) emit('\ufeff');
  const array = () => {
    emit(`[${ws()}`);
    records.forEach((rec, i) => {
      if (i > 0) emit(`${ws()},${ws()}`);
      emit(render(rec, r), true);
    });
    emit(`${ws()}]`);
  };
  if (kind.kind === 'ndjson') {
    records.forEach((rec) => {
      emit(['', ' ', '\n', '\t'][Math.floor(r() * 4)]!);
      emit(render(rec, r, true), true);
      emit(r() < 0.3 ? '\r\n' : '\n');
    });
    if (r() < 0.5 && parts.length > 0) parts.push(parts.pop()!.replace(/\r?\n$/, '')), (size = Buffer.byteLength(parts.join('')));
  } else if (kind.kind === 'array') {
    emit(ws());
    array();
    emit(ws());
  } else {
    // siblings before and after each key on the path, under names no single byte change makes a path key
    const keys = kind.path.split('.');
    const open = (depth: number) => {
      emit(`{${ws()}`);
      const before = siblings.slice(0, depth + 1).map((s, i) => `"sib${depth}_${i}"${ws()}:${ws()}${render(s, r)}`);
      for (const text of before) emit(`${text},${ws()}`);
      emit(`"${keys[depth]}"${ws()}:${ws()}`);
      if (depth + 1 < keys.length) open(depth + 1);
      else array();
      const after = siblings.slice(depth + 1, depth + 2).map((s) => `${ws()},${ws()}"tail${depth}"${ws()}:${ws()}${render(s, r)}`);
      for (const text of after) emit(text);
      emit(`${ws()}}`);
    };
    emit(ws());
    open(0);
    emit(ws());
  }
  return { bytes: Buffer.from(parts.join('')), kind, fields: FIELDS, records: ranges };
}

/** The reference's verdict and records. */
function reference(doc: Doc): Verdict {
  let text = doc.bytes.toString('utf8');
  if (text.startsWith('\ufeff')) text = text.slice(1);
  const fieldsOf = (value: unknown) => FIELDS.map((f) => {
    if (typeof value !== 'object' || value === null || Array.isArray(value) || !Object.hasOwn(value, f)) return ABSENT;
    const v = (value as Record<string, unknown>)[f];
    return typeof v === 'object' && v !== null ? ABSENT : v;
  });
  const accept = (values: unknown[]): Verdict => ({ accepted: true, values, ranges: [], fields: values.map(fieldsOf) });
  const reject: Verdict = { accepted: false, values: [], ranges: [], fields: [] };
  if (doc.kind.kind === 'ndjson') {
    const values: unknown[] = [];
    for (const line of text.split('\n')) {
      if (line.replace(/[ \t\r\n]/g, '') === '') continue;
      try {
        values.push(JSON.parse(line));
      } catch {
        return reject;
      }
    }
    return accept(values);
  }
  let root: unknown;
  try {
    root = JSON.parse(text);
  } catch {
    return reject;
  }
  let at = root;
  for (const key of doc.kind.kind === 'path' ? doc.kind.path.split('.') : []) {
    if (typeof at !== 'object' || at === null || Array.isArray(at) || !Object.hasOwn(at, key)) return reject;
    at = (at as Record<string, unknown>)[key];
  }
  return Array.isArray(at) ? accept(at) : reject;
}

/**
 * What the loader makes of the document with the scanner, fed in the given pieces: the
 * records it visits, each checked the way the server checks it when it lands.
 */
function scanned(doc: Doc, cuts: number[]): Verdict {
  const scanner = doc.kind.kind === 'ndjson' ? new NdjsonScanner(doc.fields) : new JsonArrayScanner(doc.kind.kind === 'path' ? doc.kind.path : undefined, doc.fields);
  const found = collector();
  let from = 0;
  let accepted = true;
  // one buffer read into for every piece and spoilt after each feed, as the file reader reuses
  // its buffers: the scanner keeps nothing of a chunk past the feed it came in
  const reused = Buffer.alloc(doc.bytes.length);
  try {
    for (const cut of [...cuts, doc.bytes.length]) {
      const piece = reused.subarray(0, cut - from);
      doc.bytes.copy(piece, 0, from, cut);
      scanner.feed(piece, found.visit);
      piece.fill(0x5d); // ']'
      from = cut;
    }
    if (!scanner.error) scanner.end(found.visit);
  } catch (e) {
    accepted = false;
    expect(e, 'a scanner error is a JsonStructureError with a position').toHaveProperty('offset');
  }
  if (scanner.error) accepted = false;
  const records = found.take();
  const values: unknown[] = [];
  for (const rec of records) {
    expect(doc.bytes.subarray(rec.offset, rec.offset + rec.bytes.length).equals(rec.bytes)).toBe(true);
    try {
      values.push(JSON.parse(rec.bytes.toString('utf8')));
    } catch {
      accepted = false; // the server refuses the record when it lands
    }
  }
  if (!accepted) return { accepted: false, values: [], ranges: [], fields: [] };
  // a field is handed over as its JSON text: what it says is what counts
  const fields = records.map((r) => r.fields.map((text) => (text === null ? ABSENT : JSON.parse(text) as unknown)));
  return { accepted, values, ranges: records.map((r) => ({ offset: r.offset, length: r.bytes.length })), fields };
}

/** Cut positions: every single one for a small document, and a few random sets of several. */
function cutSets(doc: Doc, seed: number): number[][] {
  const n = doc.bytes.length;
  const sets: number[][] = [[]];
  const step = n <= 300 ? 1 : Math.ceil(n / 100);
  for (let k = 1; k < n; k += step) sets.push([k]);
  const r = rng(seed);
  for (let s = 0; s < 4; s++) {
    const cuts = new Set<number>();
    for (let c = 0; c < 1 + r() * 8; c++) cuts.add(1 + Math.floor(r() * Math.max(1, n - 1)));
    sets.push([...cuts].filter((c) => c < n).sort((a, b) => a - b));
  }
  return sets;
}

function agree(doc: Doc, seed: number, exactRanges: boolean): void {
  const want = reference(doc);
  for (const cuts of cutSets(doc, seed)) {
    const got = scanned(doc, cuts);
    const where = `${doc.kind.kind} ${JSON.stringify(doc.bytes.toString('utf8'))} cut at ${JSON.stringify(cuts)}`;
    expect(got.accepted, where).toBe(want.accepted);
    expect(got.values, where).toEqual(want.values);
    expect(got.fields, where).toEqual(want.fields);
    if (exactRanges) expect(got.ranges, where).toEqual(doc.records);
  }
}

const kind: fc.Arbitrary<Kind> = fc.oneof(
  fc.constant<Kind>({ kind: 'array' }),
  fc.constant<Kind>({ kind: 'ndjson' }),
  fc.constantFrom<Kind>({ kind: 'path', path: 'contacts' }, { kind: 'path', path: 'data.items' }),
);
const docs = fc.tuple(kind, fc.array(record, { maxLength: 6 }), fc.array(fc.jsonValue({ maxDepth: 2 }) as fc.Arbitrary<Json>, { minLength: 3, maxLength: 3 }), fc.integer(), fc.boolean())
  .map(([k, records, siblings, seed, bom]) => build(k, records, siblings, seed, bom));

/** One change a broken export or a truncated transfer makes: cut short, a byte lost, added or changed. */
const STRAY = [...'[]{},:"\\ \n0-.eE+tfnu/x'].map((c) => c.charCodeAt(0));
function mutate(doc: Doc, seed: number): Doc {
  const r = rng(seed);
  const n = doc.bytes.length;
  const at = Math.floor(r() * (n + 1));
  const byte = STRAY[Math.floor(r() * STRAY.length)]!;
  const b = doc.bytes;
  const op = Math.floor(r() * 4);
  const bytes = op === 0 ? b.subarray(0, at)
    : op === 1 ? Buffer.concat([b.subarray(0, at), b.subarray(at + 1)])
    : op === 2 ? Buffer.concat([b.subarray(0, at), Buffer.from([byte]), b.subarray(at)])
    : Buffer.concat([b.subarray(0, at), Buffer.from([byte]), b.subarray(at + 1)]);
  return { ...doc, bytes, records: undefined };
}

describe('json-element-scanner against JSON.parse', () => {
  it('generated documents: same verdict, same records at the same byte ranges, same fields, wherever the chunks are cut', () => {
    fc.assert(fc.property(docs, fc.integer(), (doc, seed) => agree(doc, seed, true)), { numRuns: Number(process.env.SCANNER_RUNS ?? 200) });
  });

  it('mutated documents (truncated, a byte lost, added or changed): the same accept or reject and the same records', () => {
    fc.assert(fc.property(docs, fc.integer(), fc.integer(), (doc, mutation, seed) => agree(mutate(doc, mutation), seed, false)), { numRuns: Number(process.env.SCANNER_RUNS ?? 600) });
  });

  it('deep nesting inside and outside the records', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 1500 }), kind, fc.integer(), (depth, k, seed) => {
      const nested = '['.repeat(depth) + '"x"' + ']'.repeat(depth);
      agree(build(k, [JSON.parse(nested) as Json, { id: 1 }], [JSON.parse(nested) as Json, 1, 2], seed, false), seed, true);
    }), { numRuns: 20 });
  });

  it('records longer than the piece of a new chunk joined to a cut record (64 KiB)', () => {
    fc.assert(fc.property(kind, fc.integer({ min: 60_000, max: 200_000 }), fc.integer(), (k, length, seed) => {
      const doc = build(k, [{ id: 'a', note: 'ж'.repeat(length / 2) }, { id: 'b', note: 'q'.repeat(length) }], [1, 2, 3], seed, false);
      const want = reference(doc);
      const r = rng(seed);
      for (let s = 0; s < 5; s++) {
        const cuts = [...new Set(Array.from({ length: 1 + Math.floor(r() * 5) }, () => 1 + Math.floor(r() * (doc.bytes.length - 1))))].sort((a, b) => a - b);
        const got = scanned(doc, cuts);
        expect(got.accepted).toBe(true);
        expect(got.values).toEqual(want.values);
        expect(got.ranges).toEqual(doc.records);
      }
    }), { numRuns: 10 });
  });
});
