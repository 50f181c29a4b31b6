/**
 * Finds the elements of one array inside a JSON document fed as text chunks: the top-level
 * array, or the array at a dotted key path ('contacts', 'data.items'). It only tracks
 * nesting and strings; each element's text is handed out whole for JSON.parse, which
 * checks it. Memory holds one element at a time, whatever the document's size.
 */
export interface ScannedElement {
  text: string;
  /** Character offset of the element's first character in the whole document. */
  offset: number;
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

function isSpace(c: number): boolean {
  return c === 32 || c === 10 || c === 13 || c === 9 || c === 0xfeff;
}

export class JsonArrayScanner {
  private readonly path: string[];
  private buffer = '';
  /** Document offset of buffer[0]. */
  private base = 0;
  private inString = false;
  private escaped = false;
  /** Open containers: the char code that opened each. */
  private readonly stack: number[] = [];
  /** Whether each open container lies on the path to the wanted array. */
  private readonly onPath: boolean[] = [];
  /** Last key read in each open object at shallow depth. */
  private readonly keys: (string | null)[] = [];
  private stringStart = -1;
  private lastString: string | null = null;
  private elementStart = -1;
  /** Nesting inside the current element (0 at the element's own level). */
  private elementDepth = 0;
  /** Whether the wanted array has had an element yet ('[]' is fine, '[,' is not). */
  private sawElement = false;
  private arrayDepth = -1;
  private found = false;
  private rootDone = false;

  constructor(path?: string) {
    this.path = path ? path.split('.') : [];
  }

  /** Set when the document broke; the elements before the break were still returned. */
  error: JsonStructureError | null = null;

  /** The elements completed by this chunk (up to a structural error, which sets `error`). */
  feed(chunk: string): ScannedElement[] {
    const out: ScannedElement[] = [];
    try {
      this.scan(chunk, out);
    } catch (e) {
      if (!(e instanceof JsonStructureError)) throw e;
      this.error = e;
    }
    return out;
  }

  private scan(chunk: string, out: ScannedElement[]): void {
    let i = this.buffer.length;
    this.buffer += chunk;
    const text = this.buffer;
    const length = text.length;
    const shallow = this.path.length + 1;
    while (i < length) {
      if (this.elementStart >= 0) {
        i = this.skipInsideElement(text, i);
        if (i >= length) break;
      }
      const c = text.charCodeAt(i);
      if (this.inString) {
        if (this.escaped) this.escaped = false;
        else if (c === BACKSLASH) this.escaped = true;
        else if (c === QUOTE) {
          this.inString = false;
          if (this.stringStart >= 0) {
            this.lastString = JSON.parse(text.slice(this.stringStart, i + 1)) as string;
            this.stringStart = -1;
          }
        }
        i += 1;
        continue;
      }
      if (isSpace(c)) {
        i += 1;
        continue;
      }
      const depth = this.stack.length;
      if (this.rootDone) throw new JsonStructureError(this.base + i, 'unexpected text after the end of the document');
      if (depth === this.arrayDepth && this.elementStart < 0 && c !== CLOSE_ARRAY && c !== COMMA) {
        this.elementStart = i;
        this.elementDepth = 0;
        continue; // the element's own characters are read by skipInsideElement
      }
      switch (c) {
        case QUOTE:
          this.inString = true;
          if (depth < shallow) this.stringStart = i;
          break;
        case OPEN_OBJECT:
        case OPEN_ARRAY: {
          const parentOnPath = depth === 0 ? true : this.onPath[depth - 1]! && this.stack[depth - 1] === OPEN_OBJECT && this.keys[depth - 1] === this.path[depth - 1];
          const onPath = parentOnPath && depth <= this.path.length;
          this.stack.push(c);
          this.onPath.push(onPath);
          this.keys.push(null);
          if (onPath && depth === this.path.length) {
            if (c !== OPEN_ARRAY) throw new JsonStructureError(this.base + i, `expected an array at ${this.where()}`);
            if (this.found) throw new JsonStructureError(this.base + i, `a second array at ${this.where()}`);
            this.found = true;
            this.arrayDepth = depth + 1;
          }
          break;
        }
        case CLOSE_OBJECT:
        case CLOSE_ARRAY: {
          const open = this.stack.pop();
          this.onPath.pop();
          this.keys.pop();
          if (open !== (c === CLOSE_OBJECT ? OPEN_OBJECT : OPEN_ARRAY)) {
            throw new JsonStructureError(this.base + i, `unexpected '${String.fromCharCode(c)}'`);
          }
          if (depth === this.arrayDepth) {
            this.endElement(text, i, out, true);
            this.arrayDepth = -1;
          }
          if (this.stack.length === 0) this.rootDone = true;
          break;
        }
        case COMMA:
          if (depth === this.arrayDepth) this.endElement(text, i, out, false);
          break;
        case COLON:
          if (depth > 0 && depth < shallow && this.stack[depth - 1] === OPEN_OBJECT) this.keys[depth - 1] = this.lastString;
          break;
        default:
          break;
      }
      i += 1;
    }
    this.compact();
  }

  /**
   * The hot loop: inside an element only strings and nesting matter. Returns the index of
   * the ',' or ']' that ends the element, or the text's length when it goes on.
   */
  private skipInsideElement(text: string, from: number): number {
    let inString = this.inString;
    let escaped = this.escaped;
    let depth = this.elementDepth;
    const length = text.length;
    let i = from;
    for (; i < length; i++) {
      const c = text.charCodeAt(i);
      if (inString) {
        if (escaped) escaped = false;
        else if (c === BACKSLASH) escaped = true;
        else if (c === QUOTE) inString = false;
      } else if (c === QUOTE) inString = true;
      else if (c === OPEN_OBJECT || c === OPEN_ARRAY) depth += 1;
      else if (c === CLOSE_OBJECT || c === CLOSE_ARRAY) {
        if (depth === 0) break;
        depth -= 1;
      } else if (c === COMMA && depth === 0) break;
    }
    this.inString = inString;
    this.escaped = escaped;
    this.elementDepth = depth;
    return i;
  }


  /** Checks that the document ended where it should. */
  end(): void {
    const at = this.base + this.buffer.length;
    if (this.inString) throw new JsonStructureError(at, 'unexpected end of file inside a string');
    if (this.stack.length > 0) throw new JsonStructureError(at, 'unexpected end of file: the document is not closed');
    if (!this.found) {
      throw new JsonStructureError(0, this.path.length ? `no array at path '${this.path.join('.')}'` : 'the document is not a JSON array');
    }
  }

  private endElement(text: string, i: number, out: ScannedElement[], closing: boolean): void {
    if (this.elementStart < 0) {
      // '[]' is an empty array; '[,' or ',,' is a missing element
      if (!closing || out.length > 0 || this.sawElement) throw new JsonStructureError(this.base + i, 'expected a value');
      return;
    }
    out.push({ text: text.slice(this.elementStart, i), offset: this.base + this.elementStart });
    this.elementStart = -1;
    this.sawElement = true;
  }


  /** Drops what no element or key still needs. */
  private compact(): void {
    const keep = Math.min(...[this.elementStart, this.stringStart].filter((n) => n >= 0), this.buffer.length);
    if (keep > 0) {
      this.buffer = this.buffer.slice(keep);
      this.base += keep;
      if (this.elementStart >= 0) this.elementStart -= keep;
      if (this.stringStart >= 0) this.stringStart -= keep;
    }
  }

  private where(): string {
    return this.path.length ? `path '${this.path.join('.')}'` : 'the top level';
  }
}
