import { createReadStream, statSync } from 'node:fs';
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

/** Malformed input, located: file, record number (1-based), byte offset, line and column. */
export class InputError extends Error {
  constructor(
    readonly file: string,
    readonly record: number,
    readonly offset: number,
    readonly problem: string,
    readonly line?: number,
    readonly column?: number,
  ) {
    const where = line ? ` (line ${line}, column ${column})` : '';
    super(`${file}: record ${record} at byte ${offset.toLocaleString('en-US').replaceAll(',', ' ')}${where}: ${problem}`);
  }
}

export function formatOf(options: FileReadOptions): FileFormat {
  if (options.format) return options.format;
  return /\.(ndjson|jsonl)(\.gz)?$/i.test(options.path) ? 'ndjson' : 'json';
}

export function fileSize(path: string): number {
  return statSync(path).size;
}

/** The file as UTF-8 bytes: gunzipped when it is gzip, transcoded from cp1251 when asked. */
function openBytes(path: string, encoding: FileEncoding, counter: ReadCounter): Readable {
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
  const counted: RecordVisitor = (buf, start, end, offset, found) => {
    record += 1;
    visit(buf, start, end, offset, found);
  };
  const scanner = formatOf(options) === 'ndjson' ? new NdjsonScanner(fields) : new JsonArrayScanner(options.jsonPath, fields);
  try {
    for await (const chunk of openBytes(options.path, options.encoding, counter)) {
      scanner.feed(chunk as Buffer, counted);
      yield;
      if (scanner.error) throw scanner.error;
    }
    scanner.end(counted);
    yield;
    if (scanner.error) throw scanner.error;
  } catch (e) {
    if (!(e instanceof JsonStructureError)) throw e;
    // the structure broke inside the record after the last one visited
    throw await inputError(options, record + 1, e.offset, e.message);
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
  return new InputError(options.path, record, byte, problem, line, column);
}

/** `length` bytes of the UTF-8 text the scanner read, from `offset` (a record, read again on errors). */
export async function readRange(options: FileReadOptions, offset: number, length: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  let seen = 0;
  for await (const chunk of openBytes(options.path, options.encoding, { bytes: 0 })) {
    const bytes = chunk as Buffer;
    const from = Math.max(offset - seen, 0);
    const to = Math.min(offset + length - seen, bytes.length);
    if (from < to) parts.push(bytes.subarray(from, to));
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
