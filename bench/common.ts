import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { loadMysqlDump } from '../src/generate/load-mysql.js';
import { migrate } from '../src/db/migrate.js';
import { projectRoot } from '../src/db/paths.js';
import { generate, type GenerateOptions, type ManifestFile, type Truth } from '../src/generate/index.js';

export const OUT = join(projectRoot(), 'bench', 'out');

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

/** A fresh, migrated database for one benchmark. */
export async function freshDatabase(name: string): Promise<string> {
  const admin = new pg.Client({ connectionString: serverUrl() });
  await admin.connect();
  await admin.query(`drop database if exists ${name} with (force)`);
  await admin.query(`create database ${name}`);
  await admin.end();
  const url = withDatabase(serverUrl(), name);
  await migrate(url);
  return url;
}

/** Generated data, made once and kept in bench/out. */
export async function sampleAt(folder: string, options: Omit<GenerateOptions, 'out'>): Promise<{ dir: string; manifest: ManifestFile[]; truth: Truth }> {
  const dir = join(OUT, folder);
  if (!existsSync(join(dir, 'truth.json'))) {
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

/** A fresh MariaDB database (MYSQL_URL's server) holding a generated store A dump; its URL. */
export async function mariadbWithDump(database: string, dump: string): Promise<string> {
  const server = new URL(process.env.MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/test');
  const admin = await mysql.createConnection({ uri: server.toString() });
  await admin.query(`drop database if exists ${database}`);
  await admin.query(`create database ${database}`);
  await admin.end();
  server.pathname = `/${database}`;
  await loadMysqlDump(server.toString(), dump);
  return server.toString();
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
