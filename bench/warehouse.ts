// Seed scale, one run on this machine: store B landing against psql \copy of the same
// records, the full transform, and an incremental transform after 1% of records change.
// Prints figures; asserts nothing.  Usage: DATABASE_URL=... node dist/bench/warehouse.js [--landing-only]
import { createWriteStream, mkdirSync } from 'node:fs';
import { once } from 'node:events';
import { join } from 'node:path';
import pg from 'pg';
import { writeChanges } from '../src/generate/changes.js';
import { landManifest, useSampleWindow } from '../src/generate/land-manifest.js';
import { readRecords } from '../src/land/file-reader.js';
import { runTransform } from '../src/transform/run.js';
import { dropRunDatabases, freshDatabase, OUT, psql, readyToTime, sampleFigures, seconds, timed } from './common.js';

const sample = await sampleFigures('seed', { scale: 'seed', seed: 1 }, (truth) => ({
  records: Object.keys(truth.store_b.companies).length + Object.keys(truth.store_b.contacts).length,
  windowStart: truth.window_start,
}));
const records = sample.figures.records;

// The same records as NDJSON in COPY text format, for the psql baseline.
const ndjson = join(OUT, 'seed-records.copy');
{
  const out = createWriteStream(ndjson);
  for (const file of sample.manifest) {
    for await (const value of readRecords({ path: join(sample.dir, file.file), encoding: file.encoding, jsonPath: file.jsonPath }, { bytes: 0 })) {
      if (!out.write(JSON.stringify(value).replace(/\\/g, '\\\\') + '\n')) await once(out, 'drain');
    }
  }
  out.end();
  await once(out, 'finish');
}
const baselineUrl = await freshDatabase('b2b_etl_bench_copy');
psql(baselineUrl, 'create table bench_copy (payload jsonb)');
readyToTime(baselineUrl);
const [, copySeconds] = await timed(async () => psql(baselineUrl, `\\copy bench_copy (payload) from '${ndjson}'`));

const url = await freshDatabase('b2b_etl_bench');
const pool = new pg.Pool({ connectionString: url, max: 4 });
await useSampleWindow(pool, sample.figures.windowStart);
readyToTime(url);
const [, landSeconds] = await timed(() => landManifest(pool, sample.dir, sample.manifest, { quiet: true }));
await pool.query('analyze staging.record');

console.log(`\nstore B at seed scale: ${records.toLocaleString('en-US')} records (${sample.manifest.length} files)`);
console.log(`landing (b2b-etl land file)        ${seconds(landSeconds)}   ${Math.round(records / landSeconds).toLocaleString('en-US')} records/s`);
console.log(`psql \\copy of the same as NDJSON   ${seconds(copySeconds)}   ratio ${(landSeconds / copySeconds).toFixed(2)}x (target <= 2x)`);
if (process.argv.includes('--landing-only')) {
  await pool.end();
  await dropRunDatabases();
  process.exit(0);
}

const [first] = await timed(() => runTransform(pool));
const full = await runTransform(pool, { full: true });
const fullSeconds = full.seconds; // the transform alone; the vacuum after it is printed apart

const changes = join(OUT, 'seed-changes');
mkdirSync(changes, { recursive: true });
const changed = await writeChanges({ dir: sample.dir, manifest: sample.manifest, out: changes, round: 1, fraction: 0.01, seed: 1, at: '2026-11-20T10:00:00Z' });
const changedRecords = await landManifest(pool, changes, changed, { quiet: true });
const [incremental, incrementalSeconds] = await timed(() => runTransform(pool));
await pool.end();

console.log(`first transform (all new)          ${seconds(first.seconds)}   phones parsed ${first.phonesParsed.toLocaleString('en-US')}`);
console.log(`full transform (rebuild)           ${seconds(full.seconds)}   then vacuum (analyze) ${seconds(full.vacuumSeconds)}, not counted; steps ${JSON.stringify(full.stats.step_seconds)}`);
console.log(`incremental after 1% changed       ${seconds(incrementalSeconds)}   ${changedRecords.toLocaleString('en-US')} changed records, ` +
  `${((incrementalSeconds / fullSeconds) * 100).toFixed(1)}% of full (target < 5%)   steps ${JSON.stringify(incremental.stats.step_seconds)}`);
