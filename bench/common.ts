import { execFileSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Kafka } from 'kafkajs';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { loadMysqlDump } from '../src/generate/load-mysql.js';
import { migrate } from '../src/db/migrate.js';
import { projectRoot } from '../src/db/paths.js';
import { generate, SAMPLE_FORMAT, type GenerateOptions, type ManifestFile, type Truth } from '../src/generate/index.js';
import type { KafkaConsumer } from '../src/land/kafka.js';

/** Where benchmarks keep generated data, configs and logs (made on first use: a fresh clone has none). */
export const OUT = join(projectRoot(), 'bench', 'out');
mkdirSync(OUT, { recursive: true });

/**
 * A pool on a benchmark's database that says a lost connection instead of crashing, idle or
 * in use (graphile-worker, given a pool without both handlers, warns and installs its own).
 */
export function benchPool(url: string, max: number): pg.Pool {
  const pool = new pg.Pool({ connectionString: url, max });
  const lost = (e: Error) => console.error(`bench: database connection lost: ${e.message}`);
  pool.on('error', lost);
  pool.on('connect', (client) => client.on('error', lost));
  return pool;
}

export function serverUrl(): string {
  const url = process.env.DATABASE_URL;
  if (!url) throw new Error('benchmarks need DATABASE_URL (a PostgreSQL server they may create databases on)');
  return url;
}

export function withDatabase(url: string, name: string): string {
  const u = new URL(url);
  u.pathname = `/${name}`;
  return u.toString();
}

/**
 * This run's mark, in the name of every database it creates: when it started and its process
 * id. A benchmark never drops or reuses a database by a fixed name, which could be anyone's.
 */
export const RUN = `${new Date().toISOString().replace(/\D/g, '').slice(0, 14)}_${process.pid}`;

interface CreatedDatabase {
  server: 'PostgreSQL' | 'MariaDB';
  name: string;
  /** Kept when the run ends (a prepared database later runs reuse). */
  keep: boolean;
}

/** The databases this run created, the only ones it may drop. */
const created: CreatedDatabase[] = [];

/** A database name of this run's own: `<prefix>_<yyyymmddhhmmss>_<pid>` (and `_2`, `_3` … for more with one prefix). */
export function runDatabaseName(prefix: string): string {
  const base = `${prefix}_${RUN}`;
  let name = base;
  for (let n = 2; created.some((d) => d.name === name); n++) name = `${base}_${n}`;
  if (!/^[a-z_][a-z0-9_]*$/.test(name) || name.length > 63) throw new Error(`benchmark database name ${name}: lower-case letters, digits and _, at most 63`);
  return name;
}

/**
 * A new, empty PostgreSQL database of this run's own (`create database`, which fails rather
 * than take one that exists); its name and URL. Dropped when the run ends, unless `keep`.
 */
export async function newDatabase(prefix: string, options: { keep?: boolean } = {}): Promise<{ name: string; url: string }> {
  const name = runDatabaseName(prefix);
  const admin = new pg.Client({ connectionString: serverUrl() });
  await admin.connect();
  try {
    await admin.query(`create database ${pg.escapeIdentifier(name)}`);
  } finally {
    await admin.end();
  }
  created.push({ server: 'PostgreSQL', name, keep: options.keep ?? false });
  dropAtExit();
  return { name, url: withDatabase(serverUrl(), name) };
}

/** A new, migrated database for one benchmark (named for this run after `prefix`); its URL. */
export async function freshDatabase(prefix: string, options: { keep?: boolean } = {}): Promise<string> {
  const { url } = await newDatabase(prefix, options);
  await migrate(url);
  return url;
}

/** A database of this run's own that is to outlive it (a prepared warehouse later runs reuse). */
export function keepDatabase(name: string): void {
  for (const d of created) if (d.name === name) d.keep = true;
}

let dropping: Promise<void> | null = null;
let listening = false;

/** Once: the databases this run created are dropped when it has nothing left to do. */
function dropAtExit(): void {
  if (listening) return;
  listening = true;
  process.on('beforeExit', () => {
    dropping ??= dropRunDatabases();
  });
}

/**
 * Drops the databases this run created (never another): at the end of a run, by itself when
 * the run ends by running out of work, or called before an explicit process.exit. With
 * BENCH_KEEP_DATABASES=1 they are kept and named. A run that crashed leaves its own, named
 * after it, for a person to drop.
 */
export async function dropRunDatabases(): Promise<void> {
  const own = created.splice(0).filter((d) => !d.keep);
  if (own.length === 0) return;
  if (process.env.BENCH_KEEP_DATABASES === '1') {
    console.log(`kept this run's databases (BENCH_KEEP_DATABASES=1): ${own.map((d) => `${d.server} ${d.name}`).join(', ')}`);
    return;
  }
  for (const d of own) {
    if (d.server === 'PostgreSQL') {
      const admin = new pg.Client({ connectionString: serverUrl() });
      await admin.connect();
      await admin.query(`drop database if exists ${pg.escapeIdentifier(d.name)} with (force)`).finally(() => admin.end());
    } else {
      const admin = await mysql.createConnection({ uri: mariadbServer().toString() });
      await admin.query(`drop database if exists \`${d.name}\``).finally(() => admin.end());
    }
  }
  console.log(`dropped this run's databases: ${own.map((d) => `${d.server} ${d.name}`).join(', ')}`);
}

/** Generated data, made once and kept in bench/out. */
export async function sampleAt(folder: string, options: Omit<GenerateOptions, 'out'>): Promise<{ dir: string; manifest: ManifestFile[]; truth: Truth }> {
  const dir = join(OUT, folder);
  // a sample an older generator wrote lacks what benchmarks now read (orders): made again
  // (truth.json starts with its format: read its first bytes, not all of it)
  const stale = () => {
    const head = Buffer.alloc(32);
    const fd = openSync(join(dir, 'truth.json'), 'r');
    try {
      readSync(fd, head, 0, head.length, 0);
    } finally {
      closeSync(fd);
    }
    return !head.toString('utf8').startsWith(`{"format":${SAMPLE_FORMAT},`);
  };
  if (!existsSync(join(dir, 'truth.json')) || stale()) {
    mkdirSync(dir, { recursive: true });
    console.log(`generating ${folder} ...`);
    await generate({ out: dir, ...options });
  }
  return {
    dir,
    manifest: JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as ManifestFile[],
    truth: JSON.parse(readFileSync(join(dir, 'truth.json'), 'utf8')) as Truth,
  };
}

/**
 * A sample's files and the figures a benchmark takes from its truth file, without keeping
 * the parsed truth (hundreds of MB of heap) in the process that times a loader.
 */
export async function sampleFigures<T>(folder: string, options: Omit<GenerateOptions, 'out'>, pick: (truth: Truth) => T): Promise<{ dir: string; manifest: ManifestFile[]; figures: T }> {
  const { dir, manifest, truth } = await sampleAt(folder, options);
  return { dir, manifest, figures: pick(truth) };
}

/**
 * Before a timed load: a checkpoint, so it does not pay for the dirty pages of what ran
 * before, and a collected heap, as a fresh `b2b-etl` process has (run the benchmark with
 * `node --expose-gc`; without it the heap is left as it is).
 */
export function readyToTime(url: string): void {
  psql(url, 'checkpoint');
  (globalThis as { gc?: () => void }).gc?.();
}

export async function timed<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const started = process.hrtime.bigint();
  const result = await fn();
  return [result, Number(process.hrtime.bigint() - started) / 1e9];
}

export function psql(url: string, command: string): void {
  execFileSync('psql', [url, '-v', 'ON_ERROR_STOP=1', '-qc', command], { stdio: ['ignore', 'ignore', 'inherit'] });
}

export const seconds = (s: number) => `${s.toFixed(1)} s`;

function mariadbServer(): URL {
  return new URL(process.env.MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/test');
}

/** A new MariaDB database of this run's own (MYSQL_URL's server, named for this run after `prefix`); its name and URL. */
export async function newMariadbDatabase(prefix: string): Promise<{ name: string; url: string }> {
  const name = runDatabaseName(prefix);
  const server = mariadbServer();
  const admin = await mysql.createConnection({ uri: server.toString() });
  try {
    await admin.query(`create database \`${name}\``);
  } finally {
    await admin.end();
  }
  created.push({ server: 'MariaDB', name, keep: false });
  dropAtExit();
  server.pathname = `/${name}`;
  return { name, url: server.toString() };
}

/** A new MariaDB database of this run's own holding a generated store A dump; its name and URL. */
export async function mariadbWithDump(prefix: string, dump: string): Promise<{ name: string; url: string }> {
  const database = await newMariadbDatabase(prefix);
  await loadMysqlDump(database.url, dump);
  return database;
}

/** USER_HZ, the unit of /proc times: 100 on x86 and arm Linux (`getconf CLK_TCK`). */
const CLOCK_TICKS = 100;

/**
 * CPU seconds a process has used so far (user + system, from /proc), or null once it is
 * gone: how a benchmark tells apart what PostgreSQL's backends spent for each client.
 */
export function processCpuSeconds(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  } catch {
    return null;
  }
}

/** CPU seconds the whole machine has used so far (every core, not idle), from /proc/stat. */
export function machineCpuSeconds(): number {
  const [user, nice, system, , , irq, softirq, steal] = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  return (user! + nice! + system! + irq! + softirq! + steal!) / CLOCK_TICKS;
}

/** A new topic of this run on the broker `kafka` reaches: `<name>-<ms>`, its leaders elected. */
export async function newTopic(kafka: Kafka, name: string, partitions: number): Promise<string> {
  const topic = `${name}-${Date.now()}`;
  const admin = kafka.admin();
  await admin.connect();
  try {
    await admin.createTopics({ topics: [{ topic, numPartitions: partitions }], waitForLeaders: true });
  } finally {
    await admin.disconnect();
  }
  return topic;
}

/** Starts the consumer, waits until it has landed `messages`, stops it: the seconds from start to the last landed. */
export async function consumeAll(consumer: KafkaConsumer, messages: number): Promise<number> {
  const started = Date.now();
  await consumer.start();
  while (consumer.stats.messages < messages) await sleep(20);
  const took = (Date.now() - started) / 1000;
  await consumer.stop();
  return took;
}
