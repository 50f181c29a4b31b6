// The file scanner alone, in memory, fed in 1 MiB chunks through reused buffers as the file
// reader feeds it: a document of one long record at 12, 25, 50 and 100 MiB (time should
// double with the size, not quadruple), and 100 MiB of small records for the usual rate.
// Prints seconds, MiB/s, bytes read and copied per byte, and how far the memory held in
// buffers rose above what it was before the scan (the document is in memory before); asserts nothing.
// Usage: npm run build && node dist/bench/scanner.js
import { JsonArrayScanner, NdjsonScanner, type RecordVisitor } from '../src/land/json-element-scanner.js';

const MiB = 1 << 20;
const CHUNK = MiB;

/** A JSON array holding one record of about `bytes`: a long text field and a long array. */
function oneLongRecord(bytes: number): Buffer {
  const note = 'Ж'.repeat(Math.floor(bytes / 4));
  const tags = Array.from({ length: Math.floor(bytes / 24) }, (_, i) => `tag-${i}`);
  return Buffer.from(JSON.stringify([{ id: 'L-1', note, tags }]));
}

/** NDJSON or a JSON array of small company records, about `bytes` long. */
function smallRecords(bytes: number, ndjson: boolean): Buffer {
  const lines: string[] = [];
  let size = 0;
  for (let i = 0; size < bytes; i++) {
    const line = JSON.stringify({ id: `B-${i}`, inn: '7707083893', name: `ООО «Компания ${i}»`, phone: '+7 495 123-45-67', updated: '2026-01-10T10:00:00Z' });
    lines.push(line);
    size += Buffer.byteLength(line) + 1;
  }
  return Buffer.from(ndjson ? lines.join('\n') : `[${lines.join(',')}]`);
}

function scan(doc: Buffer, scanner: JsonArrayScanner | NdjsonScanner): { seconds: number; records: number; rise: number } {
  const buffers = [Buffer.allocUnsafe(CHUNK), Buffer.allocUnsafe(CHUNK), Buffer.allocUnsafe(CHUNK)];
  let records = 0;
  const visit: RecordVisitor = () => {
    records += 1;
  };
  const before = process.memoryUsage().arrayBuffers;
  let peak = before;
  const started = process.hrtime.bigint();
  for (let i = 0, turn = 0; i < doc.length; i += CHUNK, turn = (turn + 1) % buffers.length) {
    const chunk = buffers[turn]!;
    scanner.feed(chunk.subarray(0, doc.copy(chunk, 0, i, i + CHUNK)), visit);
    if (scanner.error) throw scanner.error;
    if ((i / CHUNK) % 8 === 0) peak = Math.max(peak, process.memoryUsage().arrayBuffers);
  }
  scanner.end(visit);
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  return { seconds, records, rise: Math.max(peak, process.memoryUsage().arrayBuffers) - before };
}

function report(label: string, doc: Buffer, scanner: JsonArrayScanner | NdjsonScanner): void {
  const { seconds, records, rise } = scan(doc, scanner);
  const { scanned, copied } = scanner.work;
  console.log(`${label.padEnd(34)} ${(doc.length / MiB).toFixed(0).padStart(4)} MiB  ${seconds.toFixed(2).padStart(6)} s  ` +
    `${(doc.length / MiB / seconds).toFixed(0).padStart(5)} MiB/s  read ${(scanned / doc.length).toFixed(2)}/byte  ` +
    `copied ${(copied / doc.length).toFixed(2)}/byte  ${records} records  memory +${(rise / MiB).toFixed(0)} MiB`);
}

for (const size of [12, 25, 50, 100]) report('one record', oneLongRecord(size * MiB), new JsonArrayScanner(undefined, ['id', 'updated']));
report('small records, JSON array', smallRecords(100 * MiB, false), new JsonArrayScanner(undefined, ['id', 'updated']));
report('small records, NDJSON', smallRecords(100 * MiB, true), new NdjsonScanner(['id', 'updated']));
