import { parseArgs } from 'node:util';
import { loadConfig, registryConfig } from '../config.js';
import { queueStaleChecks } from '../jobs/tasks/registry-refresh.js';
import { drainQueue, runWorker } from '../jobs/worker.js';
import { checkQueue, currentPauses, describePause, liftPause } from '../registry/pause.js';
import { importSnapshot } from '../registry/snapshot.js';
import { runTransform } from '../transform/run.js';
import { UsageError, log, withDatabase } from './context.js';

/** `b2b-etl worker`: graphile-worker jobs (registry checks, transform, daily refresh) until SIGTERM. */
export async function workerCommand(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { concurrency: { type: 'string' } } });
  const registry = registryConfig(loadConfig());
  const concurrency = values.concurrency ? Number(values.concurrency) : registry.concurrency;
  if (!(Number.isInteger(concurrency) && concurrency > 0)) throw new UsageError('--concurrency must be a positive whole number');
  await withDatabase(async (db) => {
    const worker = await runWorker({ pool: db.pool, registry, log, concurrency });
    log(`worker: running (${registry.provider} registry at most ${registry.rps} requests/s, ${concurrency} jobs at once); SIGTERM stops it`);
    const stop = (signal: string) => {
      log(`worker: ${signal}: finishing the jobs in progress`);
      void worker.stop();
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
    await worker.done;
  }, { poolSize: concurrency + 4 });
  return 0;
}

/**
 * `b2b-etl enrich [--refresh-older-than 30d]`: runs the queued registry checks in this
 * process (queueing stale ones first when asked), then the transform, and exits; 1 when
 * the provider refused our settings (a wrong token or URL), so a scheduler sees it.
 */
export async function enrichCommand(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { 'refresh-older-than': { type: 'string' }, concurrency: { type: 'string' } } });
  const registry = registryConfig(loadConfig());
  const concurrency = values.concurrency ? Number(values.concurrency) : registry.concurrency;
  if (!(Number.isInteger(concurrency) && concurrency > 0)) throw new UsageError('--concurrency must be a positive whole number');
  return withDatabase(async (db) => {
    if (values['refresh-older-than']) {
      const queued = await queueStaleChecks(db.pool, values['refresh-older-than']);
      log(`enrich: ${queued} checks queued (answers older than ${values['refresh-older-than']} or never asked)`);
    }
    const started = Date.now();
    const before = await answersToday(db.pool);
    await drainQueue({ pool: db.pool, registry, log, concurrency });
    const result = await runTransform(db.pool);
    const stored = (await answersToday(db.pool)) - before;
    const [pause] = await currentPauses(db.pool, registry.provider);
    const queue = await checkQueue(db.pool);
    log(`enrich: ${stored} registry answers stored in ${((Date.now() - started) / 1000).toFixed(1)}s ` +
      `(${registry.provider}); transform run ${result.runId}; ${queue.waiting} checks still queued` +
      (queue.failing && !pause ? ` (${queue.failing} failed and are retried later; last error: ${queue.lastError?.split('\n')[0]})` : '') +
      (queue.givenUp ? `; ${queue.givenUp} given up after every attempt (graphile_worker.jobs)` : ''));
    if (pause) log(`enrich: ${describePause(pause)}`);
    return pause?.kind === 'config' ? 1 : 0;
  }, { poolSize: concurrency + 4 });
}

async function answersToday(pool: import('pg').Pool): Promise<number> {
  const { rows } = await pool.query<{ n: string }>(`select count(*) as n from etl.registry_lookup where fetched_at > now() - interval '1 day'`);
  return Number(rows[0]!.n);
}

/**
 * `b2b-etl registry import FILE`: a registry export (CSV or JSON) as the snapshot provider's
 * table. `b2b-etl registry resume`: lifts a pause once its cause is fixed.
 */
export async function registryCommand(args: string[]): Promise<number> {
  const [verb, file, ...rest] = args;
  if (verb === 'resume' && !file) {
    return withDatabase(async (db) => {
      const pauses = await currentPauses(db.pool);
      if (pauses.length === 0) log('registry resume: no provider is paused');
      for (const pause of pauses) {
        await liftPause(db.pool, pause.provider);
        const { waiting } = await checkQueue(db.pool);
        log(`registry resume: ${pause.provider} resumed (was: ${pause.reason}); ${waiting} queued checks run with the next worker or enrich`);
      }
      return 0;
    });
  }
  if (verb !== 'import' || !file || rest.length > 0) throw new UsageError('usage: b2b-etl registry import FILE.csv|FILE.json | b2b-etl registry resume');
  await withDatabase(async (db) => {
    const rows = await importSnapshot(db.pool, file);
    log(`registry import: ${rows} companies from ${file} in etl.registry_snapshot`);
  });
  return 0;
}
