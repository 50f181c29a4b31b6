import { createHash } from 'node:crypto';
import { closeSync, createReadStream, openSync, readSync, statSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { PassThrough, type Readable, Transform } from 'node:stream';
import { createGunzip } from 'node:zlib';
import iconv from 'iconv-lite';
import { collector, JsonArrayScanner, jsonProblem, JsonStructureError, NdjsonScanner, type RecordVisitor } from './json-element-scanner.js';

export type FileEncoding = 'utf8' | 'cp1251';
export type FileFormat = 'json' | 'ndjson';

export interface FileReadOptions {
  path: string;
  encoding: FileEncoding;
  /** Default: ndjson for .ndjson/.jsonl (optionally .gz), json otherwise. */
  format?: FileFormat;
  /** For a JSON document whose records sit in a nested array: 'contacts', 'data.items'. */
  jsonPath?: string;
}

/** Bytes read from the file itself (compressed, if it is), for progress. */
export interface ReadCounter {
  bytes: number;
}

/**
 * Malformed input, located: file, record number (1-based), byte offset, line and column, what
 * is landed, and what to do. `advice` replaces the usual "fix the file and --resume" when
 * resuming cannot help (the wrong file, a directory).
 */
export class InputError extends Error {
  readonly line?: number;
  readonly column?: number;
  readonly advice?: string;
  readonly outcome?: string;

  constructor(
    readonly file: string,
    readonly record: number,
    readonly offset: number,
    readonly problem: string,
    more: { line?: number; column?: number; advice?: string; outcome?: string } = {},
  ) {
    const where = more.line ? ` (line ${more.line}, column ${more.column})` : '';
    super(`${file}: record ${record} at byte ${offset.toLocaleString('en-US').replaceAll(',', ' ')}${where}: ${problem}` +
      (more.outcome ? `. ${more.outcome}` : more.advice ? `; ${more.advice}` : ''));
    Object.assign(this, more);
  }

  /** Whether fixing the file and running with --resume continues the load. */
  get resumable(): boolean {
    return this.advice === undefined;
  }

  /** The same error, saying what is landed and what to do. */
  withOutcome(outcome: string): InputError {
    return new InputError(this.file, this.record, this.offset, this.problem, { line: this.line, column: this.column, advice: this.advice, outcome });
  }
}

/** What identifies the file a load read: size, modification time and the md5 of its first 64 KiB. */
export interface FileIdentity {
  size: number;
  modifiedAt: Date;
  headMd5: string;
}

/** The file's identity; a clear error for a path that is no readable file. */
export function describeFile(path: string): FileIdentity {
  let stat;
  try {
    stat = statSync(path);
  } catch (e) {
    const code = (e as { code?: string }).code;
    throw new InputError(path, 1, 0, code === 'ENOENT' ? 'no such file' : `cannot read it (${code ?? (e as Error).message})`,
      { advice: 'nothing was landed; give the path of a JSON or NDJSON file' });
  }
  if (!stat.isFile()) {
    throw new InputError(path, 1, 0, stat.isDirectory() ? 'a directory, not a file' : 'not a regular file',
      { advice: 'nothing was landed; give the path of a JSON or NDJSON file' });
  }
  let head: Buffer;
  const fd = openSync(path, 'r');
  try {
    head = Buffer.alloc(Math.min(HEAD_BYTES, stat.size));
    readSync(fd, head, 0, head.length, 0);
  } finally {
    closeSync(fd);
  }
  return { size: stat.size, modifiedAt: stat.mtime, headMd5: createHash('md5').update(head).digest('hex') };
}

const HEAD_BYTES = 64 << 10;

export function formatOf(options: FileReadOptions): FileFormat {
  if (options.format) return options.format;
  return /\.(ndjson|jsonl)(\.gz)?$/i.test(options.path) ? 'ndjson' : 'json';
}

/**
 * The file as UTF-8 bytes: gunzipped when it is gzip, transcoded from cp1251 when asked. A
 * plain UTF-8 file is read into three buffers in turn, so a load of any size makes no garbage
 * per chunk (V8 frees garbage buffers only after about 64 MB of them): a chunk's memory is read
 * into again two chunks later, so whoever keeps bytes of it longer must copy them.
 */
function openBytes(path: string, encoding: FileEncoding, counter: ReadCounter): AsyncIterable<Buffer> {
  if (encoding === 'utf8' && !/\.gz$/i.test(path)) return chunksInTurn(path, counter);
  return openStream(path, encoding, counter) as AsyncIterable<Buffer>;
}

const CHUNK = 1 << 20;

async function* chunksInTurn(path: string, counter: ReadCounter): AsyncGenerator<Buffer> {
  const file = await open(path, 'r');
  const buffers = [Buffer.allocUnsafe(CHUNK), Buffer.allocUnsafe(CHUNK), Buffer.allocUnsafe(CHUNK)];
  try {
    for (let turn = 0; ; turn = (turn + 1) % buffers.length) {
      const { bytesRead } = await file.read(buffers[turn]!, 0, CHUNK, null);
      if (bytesRead === 0) return;
      counter.bytes += bytesRead;
      yield buffers[turn]!.subarray(0, bytesRead);
    }
  } finally {
    await file.close();
  }
}

function openStream(path: string, encoding: FileEncoding, counter: ReadCounter): Readable {
  const file = createReadStream(path, { highWaterMark: 1 << 20 });
  const counted = new PassThrough();
  file.on('data', (chunk: string | Buffer) => {
    counter.bytes += chunk.length;
  });
  file.on('error', (e) => counted.destroy(e));
  let bytes: Readable = file.pipe(counted);
  if (/\.gz$/i.test(path)) {
    const gunzip = createGunzip();
    bytes.on('error', (e) => gunzip.destroy(e));
    bytes = bytes.pipe(gunzip);
  }
  if (encoding === 'utf8') return bytes;
  const decoder = iconv.decodeStream('win1251') as unknown as Transform;
  const utf8 = new Transform({
    transform(chunk: string, _encoding, done) {
      done(null, Buffer.from(chunk, 'utf8'));
    },
  });
  bytes.on('error', (e) => decoder.destroy(e));
  decoder.on('error', (e) => utf8.destroy(e));
  return bytes.pipe(decoder).pipe(utf8);
}

/**
 * Visits the records of a JSON array (top level or at jsonPath) or of an NDJSON file as
 * UTF-8 bytes, in constant memory, with where the top-level `fields` asked for lie; yields
 * after each chunk so the caller can write what it built. Malformed structure ends the
 * iteration with an InputError that names the record and its byte offset; what is wrong
 * inside a record is found when it lands.
 */
export async function* scanFile(options: FileReadOptions, counter: ReadCounter, fields: readonly string[], visit: RecordVisitor): AsyncGenerator<void> {
  let record = 0;
  let text = 0; // bytes of UTF-8 text scanned
  const counted: RecordVisitor = (buf, start, end, offset, found) => {
    record += 1;
    visit(buf, start, end, offset, found);
  };
  const scanner = formatOf(options) === 'ndjson' ? new NdjsonScanner(fields) : new JsonArrayScanner(options.jsonPath, fields);
  try {
    for await (const chunk of openBytes(options.path, options.encoding, counter)) {
      text += (chunk as Buffer).length;
      scanner.feed(chunk as Buffer, counted);
      yield;
      if (scanner.error) throw scanner.error;
    }
    scanner.end(counted);
    yield;
    if (scanner.error) throw scanner.error;
  } catch (e) {
    if (e instanceof JsonStructureError) {
      // the structure broke inside the record after the last one visited
      throw await inputError(options, record + 1, e.offset, e.message);
    }
    const code = (e as { code?: string }).code ?? '';
    if (code.startsWith('Z_')) {
      // zlib: a truncated or corrupt gzip file, found where the decompressed text stopped
      const what = code === 'Z_BUF_ERROR' ? 'the gzip data ends early (a truncated file)' : `the gzip data is corrupt (${(e as Error).message})`;
      throw new InputError(options.path, record + 1, text, `${what}, after ${record} complete records`);
    }
    throw e;
  }
}

/** Records parsed, one at a time (tools that read a sample's files). */
export async function* readRecords(options: FileReadOptions, counter: ReadCounter): AsyncGenerator<unknown> {
  const { visit, take } = collector();
  let record = 0;
  for await (const _ of scanFile(options, counter, [], visit)) {
    for (const element of take()) {
      record += 1;
      const problem = jsonProblem(element.bytes, element.offset);
      if (problem) throw await inputError(options, record, problem.offset, problem.message);
      yield JSON.parse(element.bytes.toString('utf8'));
    }
  }
}

/** An InputError for the record numbered `record`, at a byte offset of the UTF-8 text. */
export async function inputError(options: FileReadOptions, record: number, offset: number, problem: string): Promise<InputError> {
  const { byte, line, column } = await locate(options, offset);
  return new InputError(options.path, record, byte, problem, { line, column });
}

const STRICT_UTF8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Whether the file (decompressed) starts with text that is well-formed UTF-8 and not plain
 * ASCII: such a file is UTF-8, and read as Windows-1251 every Cyrillic letter would turn into
 * two garbled ones (Russian text in cp1251 is practically never well-formed UTF-8: its
 * letters are all bytes 0xC0–0xFF, which UTF-8 never puts next to each other). Returns how
 * many non-ASCII characters the head holds, 0 when it is not such text.
 */
export async function utf8Characters(options: FileReadOptions): Promise<number> {
  let head = await readRange({ ...options, encoding: 'utf8' }, 0, HEAD_BYTES);
  // a character cut by the head's end is not a fault of the file
  let cut = head.length - 1;
  while (cut >= 0 && cut > head.length - 4 && (head[cut]! & 0xc0) === 0x80) cut -= 1;
  if (cut >= 0 && head[cut]! >= 0xc0) head = head.subarray(0, cut);
  let text: string;
  try {
    text = STRICT_UTF8.decode(head);
  } catch {
    return 0;
  }
  let wide = 0;
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) > 127) wide += 1;
  return wide;
}

/** `length` bytes of the UTF-8 text the scanner read, from `offset` (a record, read again on errors). */
export async function readRange(options: FileReadOptions, offset: number, length: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  let seen = 0;
  for await (const chunk of openBytes(options.path, options.encoding, { bytes: 0 })) {
    const bytes = chunk as Buffer;
    const from = Math.max(offset - seen, 0);
    const to = Math.min(offset + length - seen, bytes.length);
    if (from < to) parts.push(Buffer.from(bytes.subarray(from, to))); // the chunk's memory is read into again
    seen += bytes.length;
    if (seen >= offset + length) break;
  }
  return Buffer.concat(parts);
}

/**
 * File byte (of the decompressed file), line and column of a byte offset of the UTF-8
 * text the scanner read (only on errors). A cp1251 file has one byte per character.
 */
async function locate(options: FileReadOptions, offset: number): Promise<{ byte: number; line: number; column: number }> {
  let seen = 0;
  let chars = 0;
  let line = 1;
  let lineStartChars = 0;
  for await (const chunk of openBytes(options.path, options.encoding, { bytes: 0 })) {
    const bytes = chunk as Buffer;
    const take = Math.min(bytes.length, offset - seen);
    for (let i = 0; i < take; i++) {
      const c = bytes[i]!;
      if ((c & 0xc0) !== 0x80) chars += 1; // not a UTF-8 continuation byte: a new character
      if (c === 10) {
        line += 1;
        lineStartChars = chars;
      }
    }
    seen += take;
    if (seen >= offset) break;
  }
  return { byte: options.encoding === 'cp1251' ? chars : offset, line, column: chars - lineStartChars + 1 };
}
