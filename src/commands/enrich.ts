import type { Command } from 'commander';
import { registryConfig } from '../config.js';
import { queueStaleChecks } from '../jobs/tasks/registry-refresh.js';
import { drainQueue, WAREHOUSE_TASKS } from '../jobs/worker.js';
import { checkQueue, currentPauses, describePause, liftPause } from '../registry/pause.js';
import { importSnapshot } from '../registry/snapshot.js';
import { runTransform } from '../transform/run.js';
import { configuration, log, withDatabase } from './context.js';
import { action, positiveInt } from './define.js';

/** `b2b-etl enrich` and `registry import`: the registry (EGRUL) check. */
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

  const registry = program
    .command('registry')
    .summary('load a registry export for the snapshot provider; resume a paused provider');
  registry
    .command('import')
    .summary('load a registry export (CSV or JSON) into etl.registry_snapshot')
    .description('Loads a registry export (columns inn, status, full_name, short_name, legal_form, kpp, ogrn, address, head, ' +
      'liquidation_date) into etl.registry_snapshot, the snapshot provider\'s table.')
    .argument('<file>', 'FILE.csv or FILE.json')
    .action(action((file: string) => registryImportCommand(file)));
  registry
    .command('resume')
    .summary('lift a registry provider\'s pause once its cause is fixed (a new token, a topped-up balance)')
    .description('A refused token or URL pauses the registry provider (b2b-etl status shows why). A different token or URL lifts ' +
      'the pause by itself; this lifts it by hand, e.g. once the account is paid again.')
    .action(action(() => registryResumeCommand()));
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

/** Portals a crm_push job is queued for. */
async function queuedPushes(pool: import('pg').Pool): Promise<string[]> {
  const { rows } = await pool.query<{ portal: string }>(
    `select distinct j.payload ->> 'portal' as portal from graphile_worker._private_jobs j
       join graphile_worker._private_tasks t on t.id = j.task_id where t.identifier = 'crm_push' order by 1`);
  return rows.map((r) => r.portal);
}

async function answersToday(pool: import('pg').Pool): Promise<number> {
  const { rows } = await pool.query<{ n: string }>(`select count(*) as n from etl.registry_lookup where fetched_at > now() - interval '1 day'`);
  return Number(rows[0]!.n);
}

/** `b2b-etl registry resume`: lifts a pause once its cause is fixed. */
async function registryResumeCommand(): Promise<number> {
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

/** `b2b-etl registry import FILE`: a registry export (CSV or JSON) as the snapshot provider's table. */
async function registryImportCommand(file: string): Promise<number> {
  await withDatabase(async (db) => {
    const rows = await importSnapshot(db.pool, file);
    log(`registry import: ${rows} companies from ${file} in etl.registry_snapshot`);
  });
  return 0;
}
