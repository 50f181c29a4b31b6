/**
 * Reading one record of a JSON document as bytes, resumably: a record cut by a chunk's end
 * is read on from where the scan stopped when more bytes come, never from its start again,
 * so a record of any length costs time in proportion to its length. Only nesting and
 * strings are tracked (the server's JSON parser checks the record when it lands), plus
 * where a few wanted top-level fields' values lie.
 */

/** The bytes JSON's structure is made of (a const enum: each use is the number itself, not a lookup). */
export const enum Byte {
  OpenObject = 123, // {
  CloseObject = 125, // }
  OpenArray = 91, // [
  CloseArray = 93, // ]
  Quote = 34, // "
  Backslash = 92, // \
  Comma = 44, // ,
  Colon = 58, // :
}

export function isSpace(c: number): boolean {
  return c === 32 || c === 10 || c === 13 || c === 9;
}

/** Whether a number or literal ends before this byte. */
export function endsScalar(c: number): boolean {
  return c === Byte.Comma || c === Byte.CloseArray || c === Byte.CloseObject || isSpace(c);
}

/**
 * Index of the quote that closes a string whose content continues at `from`; when `end`
 * comes first, ~(the index to continue at): `end`, or `end + 1` when an escape's backslash
 * was the last byte (the escaped byte is the next one to come).
 */
export function scanString(buf: Buffer, from: number, end: number): number {
  let j = from;
  for (; j < end; j++) {
    const c = buf[j]!;
    if (c === Byte.Quote) return j;
    if (c === Byte.Backslash) j += 1;
  }
  return ~j;
}

/** What the scanner knows of the record being visited (valid during the visit only). */
export interface RecordFields {
  /** Start and end in the visited buffer of each wanted field's JSON text; -1 when absent or not a scalar. */
  readonly starts: readonly number[];
  readonly ends: readonly number[];
  /** Whitespace between its tokens: compact it before hashing or landing. */
  readonly spaced: boolean;
}

const enum Shape { String, Scalar, Container }

/**
 * One record at a time: read() from its first byte over the bytes there are; when they end
 * first, resume() goes on as more come (in the same buffer, grown; rebase() when the
 * record's bytes moved to another).
 */
export class RecordReader implements RecordFields {
  private readonly wanted: Buffer[];
  readonly starts: number[];
  readonly ends: number[];
  spaced = false;
  // where a cut record's read stopped, for resume()
  private shape = Shape.Container;
  private inObject = false;
  /** The next byte not read yet. */
  private next = 0;
  private depth = 0;
  /** At the record's own level: the next string is a key. */
  private expectKey = false;
  /** The wanted field whose value comes next. */
  private field = -1;
  /** Where a wanted field's number or literal began and ended (so far). */
  private valueStart = -1;
  private valueEnd = -1;
  /** The opening quote of a string cut by the end of the bytes read; -1 outside strings. */
  private stringOpen = -1;

  constructor(fields: readonly string[]) {
    this.wanted = fields.map((f) => Buffer.from(f));
    this.starts = fields.map(() => -1);
    this.ends = fields.map(() => -1);
  }

  /**
   * Reads the record whose first byte (not whitespace) is buf[from], up to `end`. Returns
   * the index after its last byte, or -1 when `end` comes first (resume() goes on from
   * there). A scalar ends at the first byte that cannot be in it.
   */
  read(buf: Buffer, from: number, end: number): number {
    for (let f = 0; f < this.starts.length; f++) this.starts[f] = -1;
    this.spaced = false;
    const first = buf[from]!;
    if (first === Byte.Quote) {
      this.shape = Shape.String;
      return this.string(buf, from + 1, end);
    }
    if (first !== Byte.OpenObject && first !== Byte.OpenArray) {
      this.shape = Shape.Scalar;
      return this.scalar(buf, from, end);
    }
    this.shape = Shape.Container;
    this.inObject = first === Byte.OpenObject;
    this.stringOpen = -1;
    return this.container(buf, from, end, 0, false, -1, -1, -1);
  }

  /** Reads on in the record read() could not finish, up to `end`: the index after it, or -1 again. */
  resume(buf: Buffer, end: number): number {
    if (this.shape === Shape.String) return this.string(buf, this.next, end);
    if (this.shape === Shape.Scalar) return this.scalar(buf, this.next, end);
    if (this.stringOpen >= 0 && !this.finishString(buf, end)) return -1;
    return this.container(buf, this.next, end, this.depth, this.expectKey, this.field, this.valueStart, this.valueEnd);
  }

  /** The record's bytes moved `by` bytes towards the buffer's start (into a buffer of their own). */
  rebase(by: number): void {
    this.next -= by;
    for (let f = 0; f < this.starts.length; f++) {
      if (this.starts[f]! >= 0) {
        this.starts[f]! -= by;
        this.ends[f]! -= by;
      }
    }
    if (this.valueStart >= 0) {
      this.valueStart -= by;
      this.valueEnd -= by;
    }
    if (this.stringOpen >= 0) this.stringOpen -= by;
  }

  /** A record that is a string, its content from `from` on. */
  private string(buf: Buffer, from: number, end: number): number {
    const close = scanString(buf, from, end);
    if (close >= 0) return close + 1;
    this.next = ~close;
    return -1;
  }

  /** A record that is a number or a literal, from `from` on. */
  private scalar(buf: Buffer, from: number, end: number): number {
    for (let i = from; i < end; i++) if (endsScalar(buf[i]!)) return i;
    this.next = end;
    return -1;
  }

  /** An object or array record from buf[from] on, in the state given (the hot loop works on locals). */
  private container(buf: Buffer, from: number, end: number, depth: number, expectKey: boolean, field: number, valueStart: number, valueEnd: number): number {
    const inObject = this.inObject;
    for (let i = from; i < end; i++) {
      const c = buf[i]!;
      if (c === Byte.Quote) {
        const close = scanString(buf, i + 1, end);
        if (close < 0) {
          this.stringOpen = i;
          this.save(~close, depth, expectKey, field, valueStart, valueEnd);
          return -1;
        }
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
        case Byte.OpenObject:
        case Byte.OpenArray:
          depth += 1;
          if (depth === 1) expectKey = inObject;
          else if (depth === 2) field = -1; // a wanted field holding an object or array is not a key
          break;
        case Byte.CloseObject:
        case Byte.CloseArray:
          if (depth === 1 && valueStart >= 0) {
            this.starts[field] = valueStart;
            this.ends[field] = valueEnd;
            valueStart = -1;
          }
          depth -= 1;
          if (depth === 0) return i + 1;
          break;
        case Byte.Comma:
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
        case Byte.Colon:
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
    this.save(end, depth, expectKey, field, valueStart, valueEnd);
    return -1;
  }

  /**
   * Reads on in a string cut last time, from where it stopped: whether it ends before `end`.
   * A whole one is a key, a wanted field's value, or neither.
   */
  private finishString(buf: Buffer, end: number): boolean {
    const close = scanString(buf, this.next, end);
    if (close < 0) {
      this.next = ~close;
      return false;
    }
    const open = this.stringOpen;
    this.stringOpen = -1;
    this.next = close + 1;
    if (this.depth !== 1) return true;
    if (this.expectKey) {
      this.field = this.match(buf, open + 1, close);
      this.expectKey = false;
    } else if (this.field >= 0) {
      this.starts[this.field] = open;
      this.ends[this.field] = close + 1;
      this.field = -1;
    }
    return true;
  }

  /** Where the container's read stopped, for resume(). */
  private save(next: number, depth: number, expectKey: boolean, field: number, valueStart: number, valueEnd: number): void {
    this.next = next;
    this.depth = depth;
    this.expectKey = expectKey;
    this.field = field;
    this.valueStart = valueStart;
    this.valueEnd = valueEnd;
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
    for (let k = start; k < end && !escaped; k++) escaped = buf[k] === Byte.Backslash;
    if (!escaped) return -1;
    try {
      const key = JSON.parse(buf.toString('utf8', start - 1, end + 1)) as string;
      return this.wanted.findIndex((name) => name.toString() === key);
    } catch {
      return -1; // not a valid string: the server refuses the record
    }
  }
}

/** Bytes not consumed yet, kept across chunks as a copy of their own (a chunk's memory is read into again). */
export class CarryBuffer {
  private bytes: Buffer = Buffer.alloc(0);
  length = 0;
  /** Bytes copied in, for the record of how much work a document took. */
  copied = 0;

  /** The bytes kept; valid until the next append or clear. */
  get buf(): Buffer {
    return this.bytes;
  }

  /** Appends src[start, end), growing the room geometrically so a long record is copied a bounded number of times. */
  append(src: Buffer, start: number, end: number): void {
    const need = this.length + (end - start);
    if (need > this.bytes.length) {
      const grown = Buffer.allocUnsafe(Math.max(need, this.bytes.length * 2, MIN_ROOM));
      this.bytes.copy(grown, 0, 0, this.length);
      this.copied += this.length;
      this.bytes = grown;
    }
    src.copy(this.bytes, this.length, start, end);
    this.copied += end - start;
    this.length = need;
  }

  /** Empties it; the room a very long record needed is given back. */
  clear(): void {
    this.length = 0;
    if (this.bytes.length > KEPT_ROOM) this.bytes = Buffer.alloc(0);
  }
}

const MIN_ROOM = 64 << 10;
const KEPT_ROOM = 4 << 20;
