import { parseArgs } from 'node:util';
import { loadConfig, registryConfig } from '../config.js';
import { queueStaleChecks } from '../jobs/tasks/registry-refresh.js';
import { drainQueue, runWorker } from '../jobs/worker.js';
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
 * process (queueing stale ones first when asked), then the transform, and exits.
 */
export async function enrichCommand(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { 'refresh-older-than': { type: 'string' }, concurrency: { type: 'string' } } });
  const registry = registryConfig(loadConfig());
  const concurrency = values.concurrency ? Number(values.concurrency) : registry.concurrency;
  if (!(Number.isInteger(concurrency) && concurrency > 0)) throw new UsageError('--concurrency must be a positive whole number');
  await withDatabase(async (db) => {
    if (values['refresh-older-than']) {
      const queued = await queueStaleChecks(db.pool, values['refresh-older-than']);
      log(`enrich: ${queued} checks queued (answers older than ${values['refresh-older-than']} or never asked)`);
    }
    const started = Date.now();
    const before = await checkCounts(db.pool);
    await drainQueue({ pool: db.pool, registry, log, concurrency });
    const result = await runTransform(db.pool);
    const after = await checkCounts(db.pool);
    log(`enrich: ${after.answers - before.answers} registry answers stored in ${((Date.now() - started) / 1000).toFixed(1)}s ` +
      `(${registry.provider}); transform run ${result.runId}; ${after.waiting} checks still queued` +
      (after.pausedUntil ? `, ${registry.provider} paused until ${after.pausedUntil.toISOString()} (${after.pauseReason})` : ''));
  }, { poolSize: concurrency + 4 });
  return 0;
}

async function checkCounts(pool: import('pg').Pool): Promise<{ answers: number; waiting: number; pausedUntil: Date | null; pauseReason: string | null }> {
  const { rows } = await pool.query<{ answers: string; waiting: string; paused_until: Date | null; pause_reason: string | null }>(`
    select (select count(*) from etl.registry_lookup where fetched_at > now() - interval '1 day') as answers,
           (select count(*) from graphile_worker.jobs where task_identifier = 'registry_check') as waiting,
           p.paused_until, p.pause_reason
    from (select 1) one left join etl.registry_pacing p on p.paused_until > now()
    limit 1`);
  const r = rows[0]!;
  return { answers: Number(r.answers), waiting: Number(r.waiting), pausedUntil: r.paused_until, pauseReason: r.pause_reason };
}

/** `b2b-etl registry import FILE`: a registry export (CSV or JSON) as the snapshot provider's table. */
export async function registryCommand(args: string[]): Promise<number> {
  const [verb, file, ...rest] = args;
  if (verb !== 'import' || !file || rest.length > 0) throw new UsageError('usage: b2b-etl registry import FILE.csv|FILE.json');
  await withDatabase(async (db) => {
    const rows = await importSnapshot(db.pool, file);
    log(`registry import: ${rows} companies from ${file} in etl.registry_snapshot`);
  });
  return 0;
}
