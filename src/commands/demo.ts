import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { funnel } from '../audit/funnel.js';
import { pushToDemoPortal } from '../crm/demo-portal.js';
import { openDatabase } from '../db/connection.js';
import { demoTargetProblem, markDemoDatabase } from '../db/demo-target.js';
import { startEmbeddedPostgres, type EmbeddedServer } from '../db/embedded.js';
import { migrate } from '../db/migrate.js';
import { projectRoot } from '../db/paths.js';
import { registryConfig } from '../config.js';
import { generate, REGISTRY_SNAPSHOT, type ManifestFile, type Truth } from '../generate/index.js';
import { drainQueue, WAREHOUSE_TASKS } from '../jobs/worker.js';
import { importSnapshot } from '../registry/snapshot.js';
import { landManifest, useSampleWindow } from '../generate/land-manifest.js';
import { runTransform } from '../transform/run.js';
import { log, UsageError } from './context.js';
import { action } from './define.js';

export function defineDemo(program: Command): void {
  program
    .command('demo')
    .summary('all of it on its own embedded PostgreSQL and the sample')
    .description('Generates the small sample, migrates, lands, transforms, checks every company against the sample registry ' +
      'snapshot and prints the funnel. It runs on its own embedded database in .data/demo, never on DATABASE_URL.')
    .option('--serve', 'keep the database up afterwards, to explore it with psql', false)
    .option('--database-url <url>', 'run on this database instead (refused when it holds data, unless --force)')
    .option('--force', 'with --database-url: run there even though it holds data', false)
    .action(action((flags: { serve: boolean; databaseUrl?: string; force: boolean }) => demoCommand(flags)));
}

/**
 * The whole path on a fresh clone with nothing configured: its own embedded PostgreSQL in
 * .data/demo (never DATABASE_URL: the demo overwrites window_start and the registry
 * snapshot), the small sample, migrate, land, transform, and the funnel. `--database-url
 * URL` runs it elsewhere, refused when that database holds data, unless `--force`.
 */
async function demoCommand(values: { serve: boolean; databaseUrl?: string; force: boolean }): Promise<number> {
  const target = values.databaseUrl;
  if (values.force && !target) throw new UsageError('--force goes with --database-url URL (the demo runs on its own embedded database otherwise)');
  if (target && !values.force) {
    const problem = await demoTargetProblem(target);
    if (problem) {
      throw new UsageError(`${problem}; the demo would land its sample there, set window_start and replace the registry snapshot. ` +
        'Run `b2b-etl demo` without --database-url (its own embedded database), or add --force');
    }
  }
  if (!target && process.env.DATABASE_URL) {
    log('demo: DATABASE_URL is not used: the demo runs on its own embedded PostgreSQL in .data/demo (--database-url URL runs it elsewhere)');
  }
  if (process.env.BITRIX24_WEBHOOK_URL) {
    // the demo's transforms would queue a push of the sample to that portal
    log('demo: BITRIX24_WEBHOOK_URL is not used: the demo pushes to its own sandbox portal');
    delete process.env.BITRIX24_WEBHOOK_URL;
  }
  const sample = join(projectRoot(), '.data', 'sample');
  if (!existsSync(join(sample, REGISTRY_SNAPSHOT))) {
    log(`generating the small sample into ${sample}`);
    await generate({ out: sample, scale: 'small' });
  }
  const manifest = JSON.parse(readFileSync(join(sample, 'manifest.json'), 'utf8')) as ManifestFile[];
  const truth = JSON.parse(readFileSync(join(sample, 'truth.json'), 'utf8')) as Truth;

  let server: EmbeddedServer | null = null;
  if (!target) server = await startEmbeddedPostgres({ folder: 'demo', log });
  const db = await openDatabase({ log, poolSize: 12, url: target ?? server!.url }).catch(async (e: unknown) => {
    await server?.stop();
    throw e;
  });
  try {
    await migrate(db.url);
    await markDemoDatabase(db.pool);
    await useSampleWindow(db.pool, truth.window_start);
    log(`load window starts ${truth.window_start} (etl.setting window_start)`);
    await landManifest(db.pool, sample, manifest);
    const run = await runTransform(db.pool, { onNotice: log });
    log(`transform: ${run.seconds.toFixed(1)}s; ${run.stats.registry_checks_queued ?? 0} registry checks queued`);
    // the registry from the sample's snapshot: the checks the transform queued, then the
    // transform again with their answers (DaData instead: registry.provider in the config)
    const imported = await importSnapshot(db.pool, join(sample, REGISTRY_SNAPSHOT));
    const started = Date.now();
    await drainQueue({ pool: db.pool, registry: registryConfig({ sources: {}, registry: { provider: 'snapshot', concurrency: 8 } }), log, tasks: WAREHOUSE_TASKS });
    const again = await runTransform(db.pool, { onNotice: log });
    log(`registry: ${imported} companies in the snapshot, checks done in ${((Date.now() - started) / 1000).toFixed(1)}s; transform ${again.seconds.toFixed(1)}s`);
    process.stdout.write(`\n${await funnel(db.pool)}\n\n`);
    const portal = await pushToDemoPortal(db.pool, db.url, log);
    process.stdout.write(`${portal.summary}\n\n`);
    const connect = server
      ? `PGPASSWORD="$(cat ${server.passwordFile})" psql -h 127.0.0.1 -p ${server.port} -U postgres postgres`
      : 'psql with the URL you gave';
    process.stdout.write(
      `Explore it with ${values.serve ? '' : '`npx b2b-etl demo --serve` (keeps the database up) and '}${connect}, for example:\n` +
        `  select reason, count(*) from etl.rejection where resolved_at is null group by 1;\n` +
        `  select * from etl.why('store_b:B-5');\n` +
        `  select * from canonical.company limit 10;\n`,
    );
    if (values.serve) {
      log(`database and sandbox portal are up; push to it again with BITRIX24_WEBHOOK_URL=${portal.sandbox.webhookUrl}` +
        `${portal.sandbox.certFile ? ` NODE_EXTRA_CA_CERTS=${portal.sandbox.certFile}` : ''}; press Ctrl-C to stop them`);
      await new Promise<void>((resolve) => process.once('SIGINT', () => resolve()));
    }
    await portal.sandbox.stop();
    return 0;
  } finally {
    await db.close();
    await server?.stop();
  }
}
