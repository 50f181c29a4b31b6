// Store A at seed scale (53 000 companies, 75 000 contacts), one run on this machine:
// `land mysql --full` against pgloader copying the same two tables from the same MariaDB
// database into PostgreSQL. Prints figures; asserts nothing.
// Usage: DATABASE_URL=... MYSQL_URL=mysql://root@127.0.0.1:3306/test node dist/bench/store-a.js
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import pg from 'pg';
import { mysqlSource } from '../src/config.js';
import { STORE_A_DUMP } from '../src/generate/index.js';
import { loadMysqlDump } from '../src/generate/load-mysql.js';
import { landMysql } from '../src/land/mysql.js';
import { dropRunDatabases, freshDatabase, newDatabase, newMariadbDatabase, readyToTime, sampleFigures, seconds, timed } from './common.js';

const sample = await sampleFigures('seed-live', { scale: 'seed', seed: 1 }, (truth) => ({
  rows: Object.keys(truth.store_a.companies).length + Object.keys(truth.store_a.contacts).length,
}));
const { name: database, url: storeAUrl } = await newMariadbDatabase('b2b_etl_bench_store_a');
const server = new URL(storeAUrl);
const [, dumpSeconds] = await timed(() => loadMysqlDump(server.toString(), join(sample.dir, STORE_A_DUMP)));
const rows = sample.figures.rows;
console.log(`store A dump loaded into MariaDB ${database}: ${rows} rows in ${seconds(dumpSeconds)}`);

// pgloader: the same two tables into a fresh database (it creates the tables itself)
const { url: pgloaderUrl } = await newDatabase('b2b_etl_bench_pgloader');
const pgloaderVersion = execFileSync('pgloader', ['--version']).toString().split('\n')[0];
readyToTime(pgloaderUrl);
const [, pgloaderSeconds] = await timed(async () => {
  execFileSync('pgloader', ['--quiet', server.toString(), pgloaderUrl], { stdio: ['ignore', 'ignore', 'inherit'] });
});
const copied = new pg.Client({ connectionString: pgloaderUrl });
await copied.connect();
const { rows: counted } = await copied.query<{ n: string }>(
  `select (select count(*) from ${database}.companies) + (select count(*) from ${database}.contacts) as n`);
await copied.end();

// b2b-etl: a full load in one snapshot, keyset pages, COPY into staging
const url = await freshDatabase('b2b_etl_bench_store_a');
const pool = new pg.Pool({ connectionString: url, max: 4 });
readyToTime(url);
const [result, oursSeconds] = await timed(() =>
  landMysql(pool, { url: server.toString(), source: 'store_a', config: mysqlSource({ sources: {} }, 'store_a'), full: true, quiet: true }));
const landed = result.tables.reduce((n, t) => n + t.landed, 0);
await pool.end();
await dropRunDatabases();

console.log(`pgloader (${pgloaderVersion}): ${counted[0]!.n} rows in ${seconds(pgloaderSeconds)} (${Math.round(Number(counted[0]!.n) / pgloaderSeconds)} rows/s)`);
console.log(`b2b-etl land mysql --full: ${landed} rows in ${seconds(oursSeconds)} (${Math.round(landed / oursSeconds)} rows/s)`);
console.log(`ratio: b2b-etl takes ${(oursSeconds / pgloaderSeconds).toFixed(2)}× pgloader's time (target ≤ 1.00)`);
