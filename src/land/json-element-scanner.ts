/**
 * Finds the records of a JSON document fed as UTF-8 byte chunks, without decoding or
 * parsing them: the elements of the top-level array, of the array at a dotted key path
 * ('contacts', 'data.items'), or the lines of an NDJSON file. Each record is handed to a
 * visitor as its bytes, its byte offset and where a few wanted top-level fields' values lie
 * (the source key, the change time). Only nesting and strings are tracked; the server's JSON
 * parser checks each record when it lands, and a record it refuses is located again.
 * Memory holds one chunk and one record, whatever the document's size.
 */

/** What the scanner knows of the record being visited (valid during the visit only). */
export interface RecordFields {
  /** Start and end in the visited buffer of each wanted field's JSON text; -1 when absent or not a scalar. */
  readonly starts: readonly number[];
  readonly ends: readonly number[];
  /** Whitespace between its tokens: compact it before hashing or landing. */
  readonly spaced: boolean;
}

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

const OPEN_OBJECT = 123; // {
const CLOSE_OBJECT = 125; // }
const OPEN_ARRAY = 91; // [
const CLOSE_ARRAY = 93; // ]
const QUOTE = 34; // "
const BACKSLASH = 92; // \
const COMMA = 44; // ,
const COLON = 58; // :
const NEWLINE = 10;
const BOM = Buffer.from([0xef, 0xbb, 0xbf]);
const EMPTY = Buffer.alloc(0);
/** How much of a new chunk is joined to a record cut by the last one. */
const HEAD = 64 << 10;

/** What may come next in a container outside the records. */
const enum Expect { Value, ValueOrClose, Key, KeyOrClose, Colon, CommaOrClose }

/** A JSON number or literal. */
const SCALAR = /^(?:-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?|true|false|null)$/;

/**
 * A string token outside the records, buf[open, close] with its quotes, checked as JSON
 * checks it (no raw control character, only valid escapes); its text when `decode`.
 */
function checkedString(buf: Buffer, open: number, close: number, at: number, decode: boolean): string | null {
  let plain = true;
  for (let j = open + 1; j < close; j++) {
    if (buf[j]! < 0x20 || buf[j] === BACKSLASH) {
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

function isSpace(c: number): boolean {
  return c === 32 || c === 10 || c === 13 || c === 9;
}

/** Index of the quote that closes the string whose content starts at `from`, or -1. */
function stringEnd(buf: Buffer, from: number, end: number): number {
  for (let j = from; j < end; j++) {
    const c = buf[j]!;
    if (c === QUOTE) return j;
    if (c === BACKSLASH) j += 1;
  }
  return -1;
}

/** Scanning one record: its wanted fields and whether it holds whitespace between tokens. */
class ElementReader implements RecordFields {
  private readonly wanted: Buffer[];
  readonly starts: number[];
  readonly ends: number[];
  spaced = false;

  constructor(fields: readonly string[]) {
    this.wanted = fields.map((f) => Buffer.from(f));
    this.starts = fields.map(() => -1);
    this.ends = fields.map(() => -1);
  }

  /**
   * Reads the value starting at `from` (not whitespace). Returns the index after its last
   * byte, or -1 when `end` comes first. A scalar ends at the first byte that cannot be in it.
   */
  read(buf: Buffer, from: number, end: number): number {
    this.starts.fill(-1);
    this.spaced = false;
    const first = buf[from]!;
    if (first === QUOTE) {
      const close = stringEnd(buf, from + 1, end);
      return close < 0 ? -1 : close + 1;
    }
    if (first !== OPEN_OBJECT && first !== OPEN_ARRAY) {
      for (let i = from; i < end; i++) {
        const c = buf[i]!;
        if (c === COMMA || c === CLOSE_ARRAY || c === CLOSE_OBJECT || isSpace(c)) return i;
      }
      return -1;
    }
    const inObject = first === OPEN_OBJECT;
    let depth = 0;
    let expectKey = false; // at the record's own level: the next string is a key
    let field = -1; // the wanted field whose value comes next
    let valueStart = -1; // where a wanted field's number or literal began
    let valueEnd = -1;
    for (let i = from; i < end; i++) {
      const c = buf[i]!;
      if (c === QUOTE) {
        const close = stringEnd(buf, i + 1, end);
        if (close < 0) return -1;
        if (depth === 1) {
          if (expectKey) {
            field = this.match(buf, i + 1, close);
            expectKey = false;
          } else if (field >= 0) {
            this.starts[field] = i;
            this.ends[field] = close + 1;
            field = -1;
          }
        }
        i = close;
        continue;
      }
      switch (c) {
        case OPEN_OBJECT:
        case OPEN_ARRAY:
          depth += 1;
          if (depth === 1) expectKey = inObject;
          else if (depth === 2) field = -1; // a wanted field holding an object or array is not a key
          break;
        case CLOSE_OBJECT:
        case CLOSE_ARRAY:
          if (depth === 1 && valueStart >= 0) {
            this.starts[field] = valueStart;
            this.ends[field] = valueEnd;
            valueStart = -1;
          }
          depth -= 1;
          if (depth === 0) return i + 1;
          break;
        case COMMA:
          if (depth === 1) {
            if (valueStart >= 0) {
              this.starts[field] = valueStart;
              this.ends[field] = valueEnd;
              valueStart = -1;
            }
            expectKey = inObject;
            field = -1;
          }
          break;
        case COLON:
          break;
        case 32:
        case 10:
        case 13:
        case 9:
          this.spaced = true;
          break;
        default:
          if (depth === 1 && field >= 0) {
            if (valueStart < 0) valueStart = i;
            valueEnd = i + 1;
          }
      }
    }
    return -1;
  }

  private match(buf: Buffer, start: number, end: number): number {
    const length = end - start;
    outer: for (let f = 0; f < this.wanted.length; f++) {
      const name = this.wanted[f]!;
      if (name.length !== length) continue;
      for (let k = 0; k < length; k++) if (buf[start + k] !== name[k]) continue outer;
      return f;
    }
    // a key spelled with escapes ("i\u0064") is the same key as the plain one
    let escaped = false;
    for (let k = start; k < end && !escaped; k++) escaped = buf[k] === BACKSLASH;
    if (!escaped) return -1;
    try {
      const key = JSON.parse(buf.toString('utf8', start - 1, end + 1)) as string;
      return this.wanted.findIndex((name) => name.toString() === key);
    } catch {
      return -1; // not a valid string: the server refuses the record
    }
  }
}

/** The elements of one array (top level or at a key path) of a JSON document. */
export class JsonArrayScanner {
  private readonly path: string[];
  private readonly element: ElementReader;
  /** Bytes not yet consumed: a record or a key cut by the chunk's end. */
  private carry: Buffer = EMPTY;
  /** Document offset of carry[0] (while scanning: of the scanned buffer's first byte). */
  private base = 0;
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

  constructor(path: string | undefined, fields: readonly string[] = []) {
    this.path = path ? path.split('.') : [];
    this.element = new ElementReader(fields);
  }

  /** Set when the document broke; the records before the break were still returned. */
  error: JsonStructureError | null = null;

  /** Visits the records this chunk completes (up to a structural error, which sets `error`). */
  feed(chunk: Buffer, visit: RecordVisitor): void {
    if (this.error) return;
    try {
      if (!this.started) {
        // a byte order mark opens the document, also when the first chunks cut it
        const head = Buffer.concat([this.carry, chunk]);
        if (head.length < BOM.length && BOM.subarray(0, head.length).equals(head)) {
          this.carry = head;
          return;
        }
        this.started = true;
        this.carry = EMPTY;
        chunk = head;
        if (head.subarray(0, 3).equals(BOM)) {
          this.base = 3;
          chunk = head.subarray(3);
        }
      }
      let buf = chunk;
      let from = 0;
      if (this.carry.length > 0) {
        // A record or key cut by the last chunk's end: finish it on the chunk's head joined to
        // it, then go on in the chunk itself (no copy of the whole chunk).
        const carried = this.carry.length;
        const head = Buffer.concat([this.carry, chunk.subarray(0, HEAD)]);
        const used = this.scan(head, 0, visit);
        if (used >= carried) {
          this.base += carried;
          from = used - carried;
        } else {
          // longer than the head: join it all
          buf = Buffer.concat([this.carry.subarray(used), chunk]);
          this.base += used;
        }
      }
      const consumed = this.scan(buf, from, visit);
      this.carry = buf.subarray(consumed);
      this.base += consumed;
    } catch (e) {
      if (!(e instanceof JsonStructureError)) throw e;
      this.error = e;
    }
  }

  /** Checks that the document ended where it should (an array has no record left to visit). */
  end(_visit?: RecordVisitor): void {
    if (this.error) return;
    const at = this.base + this.carry.length;
    if (this.carry.some((c) => !isSpace(c))) {
      throw new JsonStructureError(at, this.carry[0] === QUOTE ? 'unexpected end of file inside a string' : 'unexpected end of file: the document is not closed');
    }
    if (this.stack.length > 0) throw new JsonStructureError(at, 'unexpected end of file: the document is not closed');
    if (!this.found) {
      throw new JsonStructureError(0, this.path.length ? `no array at path '${this.path.join('.')}'` : 'the document is not a JSON array');
    }
  }

  /**
   * Consumes whole tokens and records; returns where the unconsumed bytes start. Outside the
   * records every token is checked against JSON's grammar (nobody else sees those bytes);
   * a record's own bytes are checked by the server when it lands.
   */
  private scan(buf: Buffer, from: number, visit: RecordVisitor): number {
    const length = buf.length;
    const shallow = this.path.length + 1;
    let i = from;
    while (i < length) {
      const c = buf[i]!;
      if (isSpace(c)) {
        i += 1;
        continue;
      }
      if (this.rootDone) throw new JsonStructureError(this.base + i, 'unexpected text after the end of the document');
      const depth = this.stack.length;
      const inObject = depth > 0 && this.stack[depth - 1] === OPEN_OBJECT;
      const state = depth === 0 ? Expect.Value : this.expect[depth - 1]!;
      const at = this.base + i;
      if (state === Expect.CommaOrClose) {
        if (c === COMMA) {
          this.expect[depth - 1] = inObject ? Expect.Key : Expect.Value;
          i += 1;
          continue;
        }
        if (c !== (inObject ? CLOSE_OBJECT : CLOSE_ARRAY)) {
          throw new JsonStructureError(at, depth === this.arrayDepth ? "expected ',' or ']' after a record" : `expected ',' or '${inObject ? '}' : ']'}'`);
        }
      } else if (state === Expect.Colon) {
        if (c !== COLON) throw new JsonStructureError(at, "expected ':' after a key");
        if (depth < shallow) this.keys[depth - 1] = this.lastString;
        this.expect[depth - 1] = Expect.Value;
        i += 1;
        continue;
      } else if (state === Expect.Key || state === Expect.KeyOrClose) {
        if (c === QUOTE) {
          const close = stringEnd(buf, i + 1, length);
          if (close < 0) return i;
          const key = checkedString(buf, i, close, at, depth < shallow);
          if (depth < shallow) this.lastString = key;
          this.expect[depth - 1] = Expect.Colon;
          i = close + 1;
          continue;
        }
        if (!(c === CLOSE_OBJECT && state === Expect.KeyOrClose)) throw new JsonStructureError(at, 'expected a key in quotes');
      } else if (!(c === CLOSE_ARRAY && state === Expect.ValueOrClose)) {
        // a value must come
        if (c === COMMA || c === COLON || c === CLOSE_OBJECT || c === CLOSE_ARRAY) throw new JsonStructureError(at, 'expected a value');
        if (depth > 0 && depth === this.arrayDepth) {
          const next = this.element.read(buf, i, length);
          if (next < 0) return i;
          visit(buf, i, next, at, this.element);
          this.valueDone();
          i = next;
          continue;
        }
        if (c === OPEN_OBJECT || c === OPEN_ARRAY) {
          this.open(c, depth, at);
          i += 1;
          continue;
        }
        if (c === QUOTE) {
          const close = stringEnd(buf, i + 1, length);
          if (close < 0) return i;
          checkedString(buf, i, close, at, false);
          this.valueDone();
          i = close + 1;
          continue;
        }
        // a number or a literal: up to the first byte that cannot follow it in JSON
        let end = i;
        while (end < length && !isSpace(buf[end]!) && buf[end] !== COMMA && buf[end] !== CLOSE_ARRAY && buf[end] !== CLOSE_OBJECT) end += 1;
        if (end === length) return i;
        if (!SCALAR.test(buf.toString('latin1', i, end))) throw new JsonStructureError(at, `unexpected '${buf.toString('utf8', i, Math.min(end, i + 20))}'`);
        this.valueDone();
        i = end;
        continue;
      }
      // a closing bracket the grammar allows here
      const open = this.stack.pop();
      this.onPath.pop();
      this.keys.pop();
      this.expect.pop();
      if (open !== (c === CLOSE_OBJECT ? OPEN_OBJECT : OPEN_ARRAY)) throw new JsonStructureError(at, `unexpected '${String.fromCharCode(c)}'`);
      if (depth === this.arrayDepth) this.arrayDepth = -1;
      this.valueDone();
      i += 1;
    }
    return i;
  }

  private open(c: number, depth: number, at: number): void {
    const parentOnPath = depth === 0 ? true : this.onPath[depth - 1]! && this.stack[depth - 1] === OPEN_OBJECT && this.keys[depth - 1] === this.path[depth - 1];
    const onPath = parentOnPath && depth <= this.path.length;
    this.stack.push(c);
    this.onPath.push(onPath);
    this.keys.push(null);
    this.expect.push(c === OPEN_OBJECT ? Expect.KeyOrClose : Expect.ValueOrClose);
    if (onPath && depth === this.path.length) {
      if (c !== OPEN_ARRAY) throw new JsonStructureError(at, `expected an array at ${this.where()}`);
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

/** The lines of an NDJSON document; blank lines are not records. */
export class NdjsonScanner {
  private readonly element: ElementReader;
  /** A line cut by the last chunk's end. */
  private carry: Buffer = EMPTY;
  /** Document offset of carry[0]. */
  private base = 0;

  constructor(fields: readonly string[] = []) {
    this.element = new ElementReader(fields);
  }

  /** Set when a line is not one whole JSON value; the records before it were still visited. */
  error: JsonStructureError | null = null;

  feed(chunk: Buffer, visit: RecordVisitor): void {
    if (this.error) return;
    const chunkBase = this.base + this.carry.length; // document offset of chunk[0]
    let start = 0;
    if (this.carry.length > 0) {
      const newline = chunk.indexOf(NEWLINE);
      if (newline < 0) {
        this.carry = Buffer.concat([this.carry, chunk]);
        return;
      }
      const line = Buffer.concat([this.carry, chunk.subarray(0, newline)]);
      if (!this.line(line, 0, line.length, this.base, visit)) return;
      start = newline + 1;
    }
    let newline: number;
    while ((newline = chunk.indexOf(NEWLINE, start)) >= 0) {
      if (!this.line(chunk, start, newline, chunkBase, visit)) return;
      start = newline + 1;
    }
    this.carry = chunk.subarray(start);
    this.base = chunkBase + start;
  }

  end(visit: RecordVisitor): void {
    if (this.error) return;
    this.line(this.carry, 0, this.carry.length, this.base, visit);
  }

  /** One line, buf[start, end), the buffer's first byte at document offset `base`. */
  private line(buf: Buffer, start: number, end: number, base: number, visit: RecordVisitor): boolean {
    let s = start;
    let e = end;
    // a byte order mark opens the document (the first line, whatever chunk brought it)
    if (base + s === 0 && e - s >= 3 && buf[s] === BOM[0] && buf[s + 1] === BOM[1] && buf[s + 2] === BOM[2]) s += 3;
    while (s < e && isSpace(buf[s]!)) s += 1;
    while (e > s && isSpace(buf[e - 1]!)) e -= 1;
    if (s === e) return true;
    let next = this.element.read(buf, s, e);
    // a number or literal runs to the end of its line
    if (next < 0 && buf[s] !== QUOTE && buf[s] !== OPEN_OBJECT && buf[s] !== OPEN_ARRAY) next = e;
    if (next !== e) {
      // not one whole value: JSON.parse says where, or the scan does
      const fallback = new JsonStructureError(base + (next < 0 ? e : next), next < 0 ? 'unexpected end of line' : 'unexpected text after the record');
      this.error = jsonProblem(buf.subarray(s, e), base + s) ?? fallback;
      return false;
    }
    visit(buf, s, e, base + s, this.element);
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
    if (c === QUOTE) {
      let close = stringEnd(bytes, i + 1, bytes.length);
      if (close < 0) close = bytes.length - 1;
      n += bytes.copy(out, n, i, close + 1);
      i = close;
    } else if (!isSpace(c)) out[n++] = c;
  }
  return out.subarray(0, n);
}
