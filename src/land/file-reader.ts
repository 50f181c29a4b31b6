import { createReadStream, statSync } from 'node:fs';
import { PassThrough, Transform, type Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import iconv from 'iconv-lite';
import chain from 'stream-chain';
import { parser } from 'stream-json';
import { pick } from 'stream-json/filters/pick.js';
import { streamArray } from 'stream-json/streamers/stream-array.js';
import { verifier } from 'stream-json/utils/verifier.js';

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
 * in constant memory. Malformed input ends the iteration with an InputError.
 */
export async function* readRecords(options: FileReadOptions, counter: ReadCounter): AsyncGenerator<unknown> {
  if (formatOf(options) === 'ndjson') {
    yield* readNdjson(options, counter);
    return;
  }
  let seen = 0;
  const stages: unknown[] = [openText(options.path, options.encoding, counter), parser()];
  if (options.jsonPath) stages.push(pick({ filter: options.jsonPath }));
  stages.push(streamArray());
  try {
    for await (const item of chain(stages as never) as AsyncIterable<{ value: unknown }>) {
      seen += 1;
      yield item.value;
    }
  } catch (e) {
    if ((e as Error).message?.includes('cannot parse') || (e as Error).message?.includes('expected')) {
      throw await locateJsonError(options, (e as Error).message);
    }
    throw e;
  }
  if (seen === 0 && options.jsonPath) {
    throw new InputError(options.path, 1, 0, `no array found at path '${options.jsonPath}'`);
  }
}

/** Where exactly the JSON broke: the verifier finds the offset, a second pass counts records. */
async function locateJsonError(options: FileReadOptions, problem: string): Promise<InputError> {
  let offset = 0;
  let line: number | undefined;
  let column: number | undefined;
  try {
    for await (const _ of chain([openText(options.path, options.encoding, { bytes: 0 }), verifier()] as never) as AsyncIterable<unknown>) {
      // the verifier emits nothing; it throws at the first error
    }
  } catch (e) {
    const located = e as { offset?: number; line?: number; pos?: number };
    offset = located.offset ?? 0;
    line = located.line;
    column = located.pos;
  }
  let before = 0;
  const stages: unknown[] = [openText(options.path, options.encoding, { bytes: 0 }).pipe(truncate(offset)), parser()];
  if (options.jsonPath) stages.push(pick({ filter: options.jsonPath }));
  stages.push(streamArray());
  try {
    for await (const _ of chain(stages as never) as AsyncIterable<unknown>) before += 1;
  } catch {
    // the prefix ends mid-record; the records counted so far are complete
  }
  return new InputError(options.path, before + 1, offset, problem.replace(/^Parser cannot parse input: /, ''), line, column);
}

/** Passes the first `limit` characters of a text stream. */
function truncate(limit: number): Transform {
  let passed = 0;
  return new Transform({
    readableObjectMode: false,
    transform(chunk: Buffer | string, _enc, done) {
      const text = chunk.toString();
      if (passed < limit) this.push(text.slice(0, limit - passed));
      passed += text.length;
      done();
    },
  });
}

async function* readNdjson(options: FileReadOptions, counter: ReadCounter): AsyncGenerator<unknown> {
  const singleByte = options.encoding === 'cp1251';
  let rest = '';
  let offset = 0; // byte offset of the start of `rest` in the (decompressed) file
  let lineNo = 0;
  let record = 0;
  const parseLine = (text: string, at: number): { ok: true; value: unknown } | { ok: false; error: InputError } => {
    try {
      return { ok: true, value: JSON.parse(text) };
    } catch (e) {
      const position = Number(/position (\d+)/.exec((e as Error).message)?.[1] ?? 0);
      const byte = at + (singleByte ? position : Buffer.byteLength(text.slice(0, position)));
      return { ok: false, error: new InputError(options.path, record, byte, (e as Error).message, lineNo, position + 1) };
    }
  };
  for await (const chunk of openText(options.path, options.encoding, counter)) {
    rest += chunk as string;
    let start = 0;
    let newline: number;
    while ((newline = rest.indexOf('\n', start)) >= 0) {
      const text = rest.slice(start, newline);
      start = newline + 1;
      lineNo += 1;
      const at = offset;
      offset += (singleByte ? text.length : Buffer.byteLength(text)) + 1;
      if (text.trim() === '') continue;
      record += 1;
      const parsed = parseLine(text, at);
      if (!parsed.ok) throw parsed.error;
      yield parsed.value;
    }
    rest = rest.slice(start);
  }
  if (rest.trim() !== '') {
    lineNo += 1;
    record += 1;
    const parsed = parseLine(rest, offset);
    if (!parsed.ok) throw parsed.error;
    yield parsed.value;
  }
}
