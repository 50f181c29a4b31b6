/**
 * Finds the records of a JSON document fed as UTF-8 byte chunks, without decoding or
 * parsing them: the elements of the top-level array, of the array at a dotted key path
 * ('contacts', 'data.items'), or the lines of an NDJSON file. Each record is handed to a
 * visitor as its bytes, its byte offset and where a few wanted top-level fields' values lie
 * (the source key, the change time). Only nesting and strings are tracked; the server's JSON
 * parser checks each record when it lands, and a record it refuses is located again.
 * Memory holds one chunk and one record, whatever the document's size; time grows with the
 * document's length, however long its records.
 */

import { Byte, CarryBuffer, endsScalar, isSpace, RecordReader, scanString, type RecordFields } from './json-record-reader.js';

export type { RecordFields } from './json-record-reader.js';

/** Called for each record: its bytes are buf[start, end), at `offset` in the whole (decompressed) document. */
export type RecordVisitor = (buf: Buffer, start: number, end: number, offset: number, fields: RecordFields) => void;

/** A visited record as a value (tests, tools): the fields as JSON text. */
export interface ScannedElement {
  bytes: Buffer;
  offset: number;
  fields: (string | null)[];
  spaced: boolean;
}

/** A visitor that collects records as ScannedElements, copying what the visit shows. */
export function collector(): { visit: RecordVisitor; take: () => ScannedElement[] } {
  let found: ScannedElement[] = [];
  return {
    visit: (buf, start, end, offset, fields) => {
      found.push({
        bytes: Buffer.from(buf.subarray(start, end)),
        offset,
        fields: fields.starts.map((s, f) => (s < 0 ? null : buf.toString('utf8', s, fields.ends[f]))),
        spaced: fields.spaced,
      });
    },
    take: () => {
      const taken = found;
      found = [];
      return taken;
    },
  };
}

export class JsonStructureError extends Error {
  constructor(
    readonly offset: number,
    message: string,
  ) {
    super(message);
  }
}

const NEWLINE = 10;
const BOM = Buffer.from([0xef, 0xbb, 0xbf]);
const EMPTY = Buffer.alloc(0);
/** How much of a new chunk is joined to a token cut by the last one before the rest: most end early in it. */
const HEAD = 64 << 10;

/** What may come next in a container outside the records. */
const enum Expect { Value, ValueOrClose, Key, KeyOrClose, Colon, CommaOrClose }

/** A token cut by a chunk's end: a record, or a string or scalar outside the records, and where its scan goes on. */
const enum Cut { Record, String, Scalar }

/** A JSON number or literal. */
const SCALAR = /^(?:-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?|true|false|null)$/;

/**
 * A string token outside the records, buf[open, close] with its quotes, checked as JSON
 * checks it (no raw control character, only valid escapes); its text when `decode`.
 */
function checkedString(buf: Buffer, open: number, close: number, at: number, decode: boolean): string | null {
  let plain = true;
  for (let j = open + 1; j < close; j++) {
    if (buf[j]! < 0x20 || buf[j] === Byte.Backslash) {
      plain = false;
      break;
    }
  }
  if (plain) return decode ? buf.toString('utf8', open + 1, close) : null;
  try {
    return JSON.parse(buf.toString('utf8', open, close + 1)) as string;
  } catch {
    throw new JsonStructureError(at, 'a string with a raw control character or a bad escape');
  }
}

/** How much work a document took: every byte is read once, and only bytes of tokens cut by a chunk's end are copied. */
export interface ScanWork {
  /** Bytes the scan read (a byte read again counts again). */
  readonly scanned: number;
  /** Bytes copied to be kept across chunks. */
  readonly copied: number;
}

/**
 * The elements of one array (top level or at a key path) of a JSON document. A token cut by
 * a chunk's end — a record, a key, a value outside the records — is copied out of the chunk
 * (whose memory the reader fills again) into a buffer of its own, and its scan goes on there
 * from where it stopped as the next chunks come: time and copies in proportion to its length.
 */
export class JsonArrayScanner {
  private readonly path: string[];
  private readonly record: RecordReader;
  /** The cut token's bytes from its first; its document offset; what it is and where its scan goes on. */
  private readonly pending = new CarryBuffer();
  private pendingOffset = 0;
  private cut: Cut | null = null;
  private resumeAt = 0;
  /** Document offset of the first byte of the chunk being fed (after a feed: of the next one). */
  private base = 0;
  /** The first bytes, while they may still be a cut byte order mark. */
  private head: Buffer = EMPTY;
  /** Open containers outside the records: the byte that opened each. */
  private readonly stack: number[] = [];
  /** Whether each open container lies on the path to the wanted array. */
  private readonly onPath: boolean[] = [];
  /** Last key read in each open object at shallow depth. */
  private readonly keys: (string | null)[] = [];
  private lastString: string | null = null;
  /** What each open container outside the records may hold next (the grammar outside the records). */
  private readonly expect: Expect[] = [];
  private arrayDepth = -1;
  private found = false;
  private rootDone = false;
  private started = false;
  private scanned = 0;

  constructor(path: string | undefined, fields: readonly string[] = []) {
    this.path = path ? path.split('.') : [];
    this.record = new RecordReader(fields);
  }

  /** Set when the document broke; the records before the break were still returned. */
  error: JsonStructureError | null = null;

  get work(): ScanWork {
    return { scanned: this.scanned, copied: this.pending.copied };
  }

  /** Visits the records this chunk completes (up to a structural error, which sets `error`). */
  feed(chunk: Buffer, visit: RecordVisitor): void {
    if (this.error) return;
    try {
      if (!this.started) {
        // a byte order mark opens the document, also when the first chunks cut it
        const head = Buffer.concat([this.head, chunk]);
        if (head.length < BOM.length && BOM.subarray(0, head.length).equals(head)) {
          this.head = head;
          return;
        }
        this.started = true;
        this.head = EMPTY;
        chunk = head;
        if (head.subarray(0, 3).equals(BOM)) {
          this.base = 3;
          chunk = head.subarray(3);
        }
      }
      let from = 0;
      if (this.cut !== null) {
        from = this.finishCut(chunk, visit);
        if (from < 0) {
          this.base += chunk.length;
          return;
        }
      }
      const consumed = this.scan(chunk, from, visit);
      if (this.cut !== null) {
        this.pending.append(chunk, consumed, chunk.length);
        this.pendingOffset = this.base + consumed;
        this.resumeAt -= consumed;
        if (this.cut === Cut.Record) this.record.rebase(consumed);
      }
      this.base += chunk.length;
    } catch (e) {
      if (!(e instanceof JsonStructureError)) throw e;
      this.error = e;
    }
  }

  /** Checks that the document ended where it should (an array has no record left to visit). */
  end(_visit?: RecordVisitor): void {
    if (this.error) return;
    const at = this.base + this.head.length;
    const rest = this.started ? this.pending.buf.subarray(0, this.pending.length) : this.head;
    if (rest.some((c) => !isSpace(c))) {
      throw new JsonStructureError(at, rest[0] === Byte.Quote ? 'unexpected end of file inside a string' : 'unexpected end of file: the document is not closed');
    }
    if (this.stack.length > 0) throw new JsonStructureError(at, 'unexpected end of file: the document is not closed');
    if (!this.found) {
      throw new JsonStructureError(0, this.path.length ? `no array at path '${this.path.join('.')}'` : 'the document is not a JSON array');
    }
  }

  /**
   * Goes on with the cut token in the bytes of `chunk`, copying them after it: a little
   * first, then, for a token longer than that, the rest. Returns the index in the chunk
   * after the token, or -1 when the chunk ends first (the token stays cut).
   */
  private finishCut(chunk: Buffer, visit: RecordVisitor): number {
    let taken = 0;
    while (taken < chunk.length) {
      const step = taken === 0 ? Math.min(chunk.length, HEAD) : chunk.length - taken;
      const before = this.pending.length;
      this.pending.append(chunk, taken, taken + step);
      taken += step;
      const end = this.finishToken(visit);
      if (end >= 0) {
        this.pending.clear();
        this.cut = null;
        return taken - step + (end - before);
      }
    }
    return -1;
  }

  /** The cut token read on over the pending bytes: the index after it, or -1 when they end first. */
  private finishToken(visit: RecordVisitor): number {
    const buf = this.pending.buf;
    const length = this.pending.length;
    const from = this.resumeAt;
    let end: number;
    if (this.cut === Cut.Record) {
      end = this.record.resume(buf, length);
      if (end >= 0) {
        visit(buf, 0, end, this.pendingOffset, this.record);
        this.valueDone();
      }
    } else if (this.cut === Cut.String) {
      const close = scanString(buf, from, length);
      end = close < 0 ? -1 : close + 1;
      if (close >= 0) this.stringToken(buf, 0, close, this.pendingOffset);
      else this.resumeAt = ~close;
    } else {
      end = from;
      while (end < length && !endsScalar(buf[end]!)) end += 1;
      if (end < length) this.scalarToken(buf, 0, end, this.pendingOffset);
      else end = -1;
    }
    if (end < 0 && this.cut !== Cut.String) this.resumeAt = length;
    this.scanned += (end < 0 ? length : end) - from;
    return end;
  }

  /**
   * Consumes whole tokens and records from buf[from]; returns where a token cut by the
   * buffer's end starts (setting `cut`), or the buffer's length. Outside the records every
   * token is checked against JSON's grammar (nobody else sees those bytes); a record's own
   * bytes are checked by the server when it lands.
   */
  private scan(buf: Buffer, from: number, visit: RecordVisitor): number {
    const length = buf.length;
    this.scanned += length - from;
    let i = from;
    while (i < length) {
      const c = buf[i]!;
      if (isSpace(c)) {
        i += 1;
        continue;
      }
      if (this.rootDone) throw new JsonStructureError(this.base + i, 'unexpected text after the end of the document');
      const depth = this.stack.length;
      const inObject = depth > 0 && this.stack[depth - 1] === Byte.OpenObject;
      const state = depth === 0 ? Expect.Value : this.expect[depth - 1]!;
      const at = this.base + i;
      if (state === Expect.CommaOrClose) {
        if (c === Byte.Comma) {
          this.expect[depth - 1] = inObject ? Expect.Key : Expect.Value;
          i += 1;
          continue;
        }
        if (c !== (inObject ? Byte.CloseObject : Byte.CloseArray)) {
          throw new JsonStructureError(at, depth === this.arrayDepth ? "expected ',' or ']' after a record" : `expected ',' or '${inObject ? '}' : ']'}'`);
        }
      } else if (state === Expect.Colon) {
        if (c !== Byte.Colon) throw new JsonStructureError(at, "expected ':' after a key");
        if (depth < this.path.length + 1) this.keys[depth - 1] = this.lastString;
        this.expect[depth - 1] = Expect.Value;
        i += 1;
        continue;
      } else if (state === Expect.Key || state === Expect.KeyOrClose) {
        if (c === Byte.Quote) {
          i = this.stringAt(buf, i, at);
          if (i < 0) return ~i;
          continue;
        }
        if (!(c === Byte.CloseObject && state === Expect.KeyOrClose)) throw new JsonStructureError(at, 'expected a key in quotes');
      } else if (!(c === Byte.CloseArray && state === Expect.ValueOrClose)) {
        // a value must come
        if (c === Byte.Comma || c === Byte.Colon || c === Byte.CloseObject || c === Byte.CloseArray) throw new JsonStructureError(at, 'expected a value');
        if (depth > 0 && depth === this.arrayDepth) {
          const next = this.record.read(buf, i, length);
          if (next < 0) {
            this.cut = Cut.Record;
            this.resumeAt = length;
            return i;
          }
          visit(buf, i, next, at, this.record);
          this.valueDone();
          i = next;
          continue;
        }
        if (c === Byte.OpenObject || c === Byte.OpenArray) {
          this.open(c, depth, at);
          i += 1;
          continue;
        }
        if (c === Byte.Quote) {
          i = this.stringAt(buf, i, at);
          if (i < 0) return ~i;
          continue;
        }
        // a number or a literal: up to the first byte that cannot follow it in JSON
        let end = i;
        while (end < length && !endsScalar(buf[end]!)) end += 1;
        if (end === length) {
          this.cut = Cut.Scalar;
          this.resumeAt = end;
          return i;
        }
        this.scalarToken(buf, i, end, at);
        i = end;
        continue;
      }
      // a closing bracket the grammar allows here
      const open = this.stack.pop();
      this.onPath.pop();
      this.keys.pop();
      this.expect.pop();
      if (open !== (c === Byte.CloseObject ? Byte.OpenObject : Byte.OpenArray)) throw new JsonStructureError(at, `unexpected '${String.fromCharCode(c)}'`);
      if (depth === this.arrayDepth) this.arrayDepth = -1;
      this.valueDone();
      i += 1;
    }
    return i;
  }

  /** The string token opening at buf[open]: the index after it, or ~open when the buffer cuts it (setting `cut`). */
  private stringAt(buf: Buffer, open: number, at: number): number {
    const close = scanString(buf, open + 1, buf.length);
    if (close < 0) {
      this.cut = Cut.String;
      this.resumeAt = ~close;
      return ~open;
    }
    this.stringToken(buf, open, close, at);
    return close + 1;
  }

  /** A whole string outside the records, buf[open, close] with its quotes: a key or a value, as the grammar expects here. */
  private stringToken(buf: Buffer, open: number, close: number, at: number): void {
    const depth = this.stack.length;
    const state = depth === 0 ? Expect.Value : this.expect[depth - 1]!;
    if (state === Expect.Key || state === Expect.KeyOrClose) {
      const shallow = depth < this.path.length + 1;
      const key = checkedString(buf, open, close, at, shallow);
      if (shallow) this.lastString = key;
      this.expect[depth - 1] = Expect.Colon;
      return;
    }
    checkedString(buf, open, close, at, false);
    this.valueDone();
  }

  /** A whole number or literal outside the records, buf[start, end). */
  private scalarToken(buf: Buffer, start: number, end: number, at: number): void {
    if (!SCALAR.test(buf.toString('latin1', start, end))) throw new JsonStructureError(at, `unexpected '${buf.toString('utf8', start, Math.min(end, start + 20))}'`);
    this.valueDone();
  }

  private open(c: number, depth: number, at: number): void {
    const parentOnPath = depth === 0 ? true : this.onPath[depth - 1]! && this.stack[depth - 1] === Byte.OpenObject && this.keys[depth - 1] === this.path[depth - 1];
    const onPath = parentOnPath && depth <= this.path.length;
    this.stack.push(c);
    this.onPath.push(onPath);
    this.keys.push(null);
    this.expect.push(c === Byte.OpenObject ? Expect.KeyOrClose : Expect.ValueOrClose);
    if (onPath && depth === this.path.length) {
      if (c !== Byte.OpenArray) throw new JsonStructureError(at, `expected an array at ${this.where()}`);
      if (this.found) throw new JsonStructureError(at, `a second array at ${this.where()}`);
      this.found = true;
      this.arrayDepth = depth + 1;
    }
  }

  /** A value ended: its container expects ',' or its end; at the top level the document is whole. */
  private valueDone(): void {
    const depth = this.stack.length;
    if (depth === 0) this.rootDone = true;
    else this.expect[depth - 1] = Expect.CommaOrClose;
  }

  private where(): string {
    return this.path.length ? `path '${this.path.join('.')}'` : 'the top level';
  }
}

/** The lines of an NDJSON document; blank lines are not records. A line cut by a chunk's end is copied out of it. */
export class NdjsonScanner {
  private readonly record: RecordReader;
  /** A line cut by the last chunk's end, and its document offset. */
  private readonly pending = new CarryBuffer();
  private pendingOffset = 0;
  /** Document offset of the next chunk's first byte. */
  private base = 0;
  private scanned = 0;

  constructor(fields: readonly string[] = []) {
    this.record = new RecordReader(fields);
  }

  /** Set when a line is not one whole JSON value; the records before it were still visited. */
  error: JsonStructureError | null = null;

  get work(): ScanWork {
    return { scanned: this.scanned, copied: this.pending.copied };
  }

  feed(chunk: Buffer, visit: RecordVisitor): void {
    if (this.error) return;
    const chunkBase = this.base;
    this.base += chunk.length;
    let start = 0;
    if (this.pending.length > 0) {
      const newline = chunk.indexOf(NEWLINE);
      this.pending.append(chunk, 0, newline < 0 ? chunk.length : newline);
      if (newline < 0) {
        this.scanned += chunk.length;
        return;
      }
      if (!this.line(this.pending.buf, 0, this.pending.length, this.pendingOffset, visit)) return;
      this.pending.clear();
      start = newline + 1;
    }
    let newline: number;
    while ((newline = chunk.indexOf(NEWLINE, start)) >= 0) {
      if (!this.line(chunk, start, newline, chunkBase, visit)) return;
      start = newline + 1;
    }
    this.scanned += chunk.length - start;
    if (start < chunk.length) {
      this.pending.append(chunk, start, chunk.length);
      this.pendingOffset = chunkBase + start;
    }
  }

  end(visit: RecordVisitor): void {
    if (this.error) return;
    this.line(this.pending.buf, 0, this.pending.length, this.pendingOffset, visit);
  }

  /** One line, buf[start, end), the buffer's first byte at document offset `base`. */
  private line(buf: Buffer, start: number, end: number, base: number, visit: RecordVisitor): boolean {
    this.scanned += end - start;
    let s = start;
    let e = end;
    // a byte order mark opens the document (the first line, whatever chunk brought it)
    if (base + s === 0 && e - s >= 3 && buf[s] === BOM[0] && buf[s + 1] === BOM[1] && buf[s + 2] === BOM[2]) s += 3;
    while (s < e && isSpace(buf[s]!)) s += 1;
    while (e > s && isSpace(buf[e - 1]!)) e -= 1;
    if (s === e) return true;
    let next = this.record.read(buf, s, e);
    // a number or literal runs to the end of its line
    if (next < 0 && buf[s] !== Byte.Quote && buf[s] !== Byte.OpenObject && buf[s] !== Byte.OpenArray) next = e;
    if (next !== e) {
      // not one whole value: JSON.parse says where, or the scan does
      const fallback = new JsonStructureError(base + (next < 0 ? e : next), next < 0 ? 'unexpected end of line' : 'unexpected text after the record');
      this.error = jsonProblem(buf.subarray(s, e), base + s) ?? fallback;
      return false;
    }
    visit(buf, s, e, base + s, this.record);
    return true;
  }
}

/**
 * What JSON.parse finds wrong with a record, at the byte offset it points to (the record
 * starting at `offset`); null when it parses.
 */
export function jsonProblem(bytes: Buffer, offset: number): JsonStructureError | null {
  const text = bytes.toString('utf8');
  try {
    JSON.parse(text);
    return null;
  } catch (e) {
    const message = (e as Error).message;
    const position = Number(/position (\d+)/.exec(message)?.[1] ?? 0);
    return new JsonStructureError(offset + Buffer.byteLength(text.slice(0, position)), message.replace(/ in JSON at position \d+.*$/, ''));
  }
}

/**
 * The record without whitespace between tokens (the form it is hashed and landed in, so the
 * same record pretty-printed or compact is one version). Text inside strings is untouched.
 */
export function compactJson(bytes: Buffer): Buffer {
  const out = Buffer.allocUnsafe(bytes.length);
  let n = 0;
  for (let i = 0; i < bytes.length; i++) {
    const c = bytes[i]!;
    if (c === Byte.Quote) {
      let close = scanString(bytes, i + 1, bytes.length);
      if (close < 0) close = bytes.length - 1;
      n += bytes.copy(out, n, i, close + 1);
      i = close;
    } else if (!isSpace(c)) out[n++] = c;
  }
  return out.subarray(0, n);
}
