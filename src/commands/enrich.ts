import type { Command } from 'commander';
import { registryConfig } from '../config.js';
import { queueStaleChecks } from '../jobs/tasks/registry-refresh.js';
import { drainQueue, WAREHOUSE_TASKS } from '../jobs/worker.js';
import { checkQueue, currentPauses, describePause } from '../registry/pause.js';
import { runTransform } from '../transform/run.js';
import { configuration, log, withDatabase } from './context.js';
import { action, positiveInt } from './define.js';

/** `b2b-etl enrich`: the queued registry (EGRUL) checks, run now. */
export function defineEnrich(program: Command): void {
  program
    .command('enrich')
    .summary('run the queued registry checks now, then the transform, and exit')
    .description('Runs the queued registry checks in this process, then the transform, and exits (a queued push waits for ' +
      '`push` or `worker`: enrich never writes to a CRM); ' +
      '--refresh-older-than queues the checks whose answers are older first.')
    .option('--refresh-older-than <age>', 're-queue answers older than this first, e.g. 30d')
    .option('--concurrency <n>', 'checks at once (default: registry.concurrency)', positiveInt)
    .action(action((flags: { refreshOlderThan?: string; concurrency?: number }) => enrichCommand(flags)));
}

/**
 * `b2b-etl enrich [--refresh-older-than 30d]`: runs the queued registry checks in this
 * process (queueing stale ones first when asked), then the transform, and exits; 1 when
 * the provider refused our settings (a wrong token or URL), so a scheduler sees it.
 */
async function enrichCommand(flags: { refreshOlderThan?: string; concurrency?: number }): Promise<number> {
  const registry = registryConfig(configuration());
  const concurrency = flags.concurrency ?? registry.concurrency;
  return withDatabase(async (db) => {
    if (flags.refreshOlderThan) {
      const queued = await queueStaleChecks(db.pool, flags.refreshOlderThan);
      log(`enrich: ${queued} checks queued (answers older than ${flags.refreshOlderThan} or never asked)`);
    }
    const started = Date.now();
    const before = await answersToday(db.pool);
    await drainQueue({ pool: db.pool, registry, log, concurrency, tasks: WAREHOUSE_TASKS });
    const result = await runTransform(db.pool);
    const stored = (await answersToday(db.pool)) - before;
    const [pause] = await currentPauses(db.pool, registry.provider);
    const queue = await checkQueue(db.pool);
    log(`enrich: ${stored} registry answers stored in ${((Date.now() - started) / 1000).toFixed(1)}s ` +
      `(${registry.provider}); transform run ${result.runId}; ${queue.waiting} checks still queued` +
      (queue.failing && !pause ? ` (${queue.failing} failed and are retried later; last error: ${queue.lastError?.split('\n')[0]})` : '') +
      (queue.givenUp ? `; ${queue.givenUp} given up after every attempt (graphile_worker.jobs)` : ''));
    if (pause) log(`enrich: ${describePause(pause)}`);
    const pushes = await queuedPushes(db.pool);
    if (pushes.length > 0) log(`enrich: a push waits for ${pushes.join(', ')} (crm_push): enrich never writes to a CRM; b2b-etl push or b2b-etl worker sends it`);
    return pause?.kind === 'config' ? 1 : 0;
  }, { poolSize: concurrency + 4 });
}

/**
 * Portals a crm_push job is queued for, from graphile-worker's public jobs view (it shows no
 * payload): each is keyed `crm_push:<portal>` (crm/queue.ts).
 */
async function queuedPushes(pool: import('pg').Pool): Promise<string[]> {
  const { rows } = await pool.query<{ portal: string }>(
    `select distinct substr(key, length('crm_push:') + 1) as portal from graphile_worker.jobs
       where task_identifier = 'crm_push' and key like 'crm_push:%' order by 1`);
  return rows.map((r) => r.portal);
}

async function answersToday(pool: import('pg').Pool): Promise<number> {
  const { rows } = await pool.query<{ n: string }>(`select count(*) as n from etl.registry_lookup where fetched_at > now() - interval '1 day'`);
  return Number(rows[0]!.n);
}
