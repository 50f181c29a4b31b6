// Store B's 600 000-contact file through the landing pipeline against psql \copy of the same
// records, at seed scale, on this machine: each timed `--runs` times (default 3), alternating,
// on databases named for this run (dropped at the end; no other is touched). Prints every run, the
// medians and their ratio against the target (at most 1.5× \copy); asserts nothing. It also
// times psql \copy of the rows the landing wrote, binary, into staging.record itself: what the
// server alone takes for the table's two indexes (the primary key and the version key that makes
// a record landed twice one row), the floor under any loader of that table.
// Usage: DATABASE_URL=... node --expose-gc dist/bench/landing.js [--runs 3] [--batch-size N]
import { createWriteStream, rmSync } from 'node:fs';
import { once } from 'node:events';
import { join } from 'node:path';
import pg from 'pg';
import { useSampleWindow } from '../src/generate/land-manifest.js';
import { landFile } from '../src/land/file.js';
import { readRecords } from '../src/land/file-reader.js';
import { dropRunDatabases, freshDatabase, OUT, psql, readyToTime, sampleFigures, seconds, timed } from './common.js';

const TARGET = 1.5;
const runsAt = process.argv.indexOf('--runs');
const runs = runsAt > 0 ? Number(process.argv[runsAt + 1]) : 3;
const batchAt = process.argv.indexOf('--batch-size');
/** Records per committed batch: the loader's default unless given. */
const batchSize = batchAt > 0 ? Number(process.argv[batchAt + 1]) : undefined;
const sample = await sampleFigures('seed-live', { scale: 'seed', seed: 1 }, (truth) => ({ windowStart: truth.window_start }));
const contacts = sample.manifest.filter((f) => f.source === 'store_b' && f.entity === 'contacts');
if (contacts.length !== 1) throw new Error(`expected one store B contacts file in ${sample.dir}, found ${contacts.length}`);
const file = contacts[0]!;

// the same records as NDJSON in COPY text format, for the psql baseline
const copyText = join(OUT, `landing-${process.pid}.copy`);
let records = 0;
{
  const out = createWriteStream(copyText);
  for await (const value of readRecords({ path: join(sample.dir, file.file), encoding: file.encoding, jsonPath: file.jsonPath }, { bytes: 0 })) {
    records += 1;
    if (!out.write(JSON.stringify(value).replace(/\\/g, '\\\\') + '\n')) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
}


const land: number[] = [];
const copy: number[] = [];
const floor: number[] = [];
const landedRows = join(OUT, `landing-${process.pid}.rows`);
const ROWS = 'batch_id, source, entity, source_key, source_updated_at, is_deleted, payload, raw_text, payload_hash, landing_issues';
{
  for (let run = 1; run <= runs; run++) {
    const baseline = await freshDatabase('b2b_etl_bench_copy');
    psql(baseline, 'create table bench_copy (payload jsonb)');
    readyToTime(baseline);
    const [, copySeconds] = await timed(async () => psql(baseline, `\\copy bench_copy (payload) from '${copyText}'`));
    copy.push(copySeconds);

    const url = await freshDatabase('b2b_etl_bench_landing');
    const pool = new pg.Pool({ connectionString: url, max: 4 });
    await useSampleWindow(pool, sample.figures.windowStart);
    readyToTime(url);
    const [, landSeconds] = await timed(() => landFile(pool, {
      path: join(sample.dir, file.file), source: file.source, entity: 'contact', encoding: file.encoding, jsonPath: file.jsonPath,
      fields: { key: 'id', updated: 'updated' }, quiet: true, batchSize,
    }));
    const landed = Number((await pool.query<{ n: string }>('select count(*) as n from staging.record')).rows[0]!.n);
    await pool.end();
    land.push(landSeconds);
    psql(url, `\\copy (select ${ROWS} from staging.record order by staging_id) to '${landedRows}' with (format binary)`);
    const rows = await freshDatabase('b2b_etl_bench_rows');
    readyToTime(rows);
    const [, floorSeconds] = await timed(async () => psql(rows, `\\copy staging.record (${ROWS}) from '${landedRows}' with (format binary)`));
    floor.push(floorSeconds);
    console.log(`run ${run}: land file ${seconds(landSeconds)} (${landed.toLocaleString('en-US')} records in staging), psql \\copy ${seconds(copySeconds)}, ` +
      `ratio ${(landSeconds / copySeconds).toFixed(2)}×; psql \\copy of the landed rows into staging.record ${seconds(floorSeconds)} (${(floorSeconds / copySeconds).toFixed(2)}×)`);
  }
}
await dropRunDatabases();
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
console.log(`\n${file.file}: ${records.toLocaleString('en-US')} records; median of ${runs}: land file ${seconds(median(land))} ` +
  `(${Math.round(records / median(land)).toLocaleString('en-US')} records/s), psql \\copy ${seconds(median(copy))}: ` +
  `ratio ${(median(land) / median(copy)).toFixed(2)}× (target ≤ ${TARGET}×)`);
console.log(`the server alone, psql \\copy of the landed rows into staging.record: ${seconds(median(floor))}, ` +
  `${(median(floor) / median(copy)).toFixed(2)}× the plain \\copy; the landing takes ${(median(land) / median(floor)).toFixed(2)}× that`);
rmSync(copyText, { force: true });
rmSync(landedRows, { force: true });
