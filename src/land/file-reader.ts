import { createReadStream, statSync } from 'node:fs';
import { PassThrough, type Readable, type Transform } from 'node:stream';
import { createGunzip } from 'node:zlib';
import iconv from 'iconv-lite';
import { JsonArrayScanner, JsonStructureError } from './json-array-scanner.js';

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

/** The file as text: gunzipped when it is gzip, decoded from cp1251 when asked. */
function openText(path: string, encoding: FileEncoding, counter: ReadCounter): Readable {
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
  const decoder = iconv.decodeStream(encoding === 'cp1251' ? 'win1251' : 'utf8') as unknown as Transform;
  bytes.on('error', (e) => decoder.destroy(e));
  return bytes.pipe(decoder);
}

/**
 * Records of a JSON array (top level or at jsonPath) or of an NDJSON file, one at a time,
 * in constant memory. Malformed input ends the iteration with an InputError that names
 * the record and its byte offset.
 */
export async function* readRecords(options: FileReadOptions, counter: ReadCounter): AsyncGenerator<unknown> {
  let record = 0;
  const fail = async (charOffset: number, problem: string): Promise<never> => {
    const { byte, line, column } = await locate(options, charOffset);
    throw new InputError(options.path, record, byte, problem, line, column);
  };
  const parse = (text: string, offset: number): unknown => {
    try {
      return JSON.parse(text);
    } catch (e) {
      const position = Number(/position (\d+)/.exec((e as Error).message)?.[1] ?? 0);
      throw new JsonStructureError(offset + position, (e as Error).message.replace(/ in JSON at position \d+.*$/, ''));
    }
  };

  try {
    yield* formatOf(options) === 'ndjson' ? ndjson() : jsonArray();
  } catch (e) {
    if (e instanceof JsonStructureError) await fail(e.offset, e.message);
    throw e;
  }

  async function* ndjson(): AsyncGenerator<unknown> {
    let rest = '';
    let base = 0; // character offset of rest[0]
    for await (const chunk of openText(options.path, options.encoding, counter)) {
      rest += chunk as string;
      let start = 0;
      let newline: number;
      while ((newline = rest.indexOf('\n', start)) >= 0) {
        const text = rest.slice(start, newline);
        const offset = base + start;
        start = newline + 1;
        if (text.trim() === '') continue;
        record += 1;
        yield parse(text, offset);
      }
      rest = rest.slice(start);
      base += start;
    }
    if (rest.trim() !== '') {
      record += 1;
      yield parse(rest, base);
    }
  }

  async function* jsonArray(): AsyncGenerator<unknown> {
    const scanner = new JsonArrayScanner(options.jsonPath);
    for await (const chunk of openText(options.path, options.encoding, counter)) {
      for (const element of scanner.feed(chunk as string)) {
        record += 1;
        yield parse(element.text, element.offset);
      }
      if (scanner.error) {
        record += 1; // the structure broke inside the record after the last one read
        throw scanner.error;
      }
    }
    try {
      scanner.end();
    } catch (e) {
      record += 1;
      throw e;
    }
  }
}

/** Byte offset, line and column of a character offset of the decoded text (only on errors). */
async function locate(options: FileReadOptions, charOffset: number): Promise<{ byte: number; line: number; column: number }> {
  let chars = 0;
  let bytes = 0;
  let line = 1;
  let lineStart = 0;
  for await (const chunk of openText(options.path, options.encoding, { bytes: 0 })) {
    const text = chunk as string;
    const take = Math.min(text.length, charOffset - chars);
    const part = text.slice(0, take);
    bytes += options.encoding === 'cp1251' ? part.length : Buffer.byteLength(part);
    for (let i = part.indexOf('\n'); i >= 0; i = part.indexOf('\n', i + 1)) {
      line += 1;
      lineStart = chars + i + 1;
    }
    chars += take;
    if (chars >= charOffset) break;
  }
  return { byte: bytes, line, column: charOffset - lineStart + 1 };
}
