// Peak RSS of the file loader for a ~60 MB and a ~600 MB contacts file: the loader streams,
// so both should need the same memory. Prints figures; asserts nothing.
// Usage: DATABASE_URL=... node dist/bench/loader-memory.js
import { execFileSync, spawnSync } from 'node:child_process';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { projectRoot } from '../src/db/paths.js';
import { freshDatabase, sampleAt } from './common.js';

const cases = [
  { folder: 'contacts-60mb', contacts: 240_000 },
  { folder: 'contacts-600mb', contacts: 2_400_000 },
];
for (const c of cases) {
  const sample = await sampleAt(c.folder, { companies: 20_000, contacts: c.contacts, seed: 5 });
  const file = sample.manifest.find((f) => f.entity === 'contacts')!;
  const path = join(sample.dir, file.file);
  const url = await freshDatabase('b2b_etl_bench_memory');
  const run = spawnSync(
    process.execPath,
    [join(projectRoot(), 'dist', 'src', 'cli.js'), 'land', 'file', path, '--source', 'store_b', '--entity', 'contacts', '--path', 'contacts'],
    { env: { ...process.env, DATABASE_URL: url }, encoding: 'utf8' },
  );
  if (run.status !== 0) throw new Error(`land file failed: ${run.stderr}`);
  const summary = run.stderr.trim().split('\n').pop();
  const landed = execFileSync('psql', [url, '-Atc', 'select count(*) from staging.record'], { encoding: 'utf8' }).trim();
  console.log(`${(statSync(path).size / 2 ** 20).toFixed(0)} MiB file, ${landed} records in staging — ${summary}`);
}
