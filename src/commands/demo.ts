import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { funnel } from '../audit/funnel.js';
import { openDatabase } from '../db/connection.js';
import { migrate } from '../db/migrate.js';
import { projectRoot } from '../db/paths.js';
import { registryConfig } from '../config.js';
import { generate, REGISTRY_SNAPSHOT, type ManifestFile, type Truth } from '../generate/index.js';
import { drainQueue } from '../jobs/worker.js';
import { importSnapshot } from '../registry/snapshot.js';
import { landManifest, useSampleWindow } from '../generate/land-manifest.js';
import { runTransform } from '../transform/run.js';
import { log } from './context.js';
import { action } from './define.js';

export function defineDemo(program: Command): void {
  program
    .command('demo')
    .summary('all of it on embedded PostgreSQL and the sample')
    .description('Generates the small sample, migrates, lands, transforms, checks every company against the sample registry ' +
      'snapshot and prints the funnel.')
    .option('--serve', 'keep the database up afterwards, to explore it with psql', false)
    .action(action((flags: { serve: boolean }) => demoCommand(flags)));
}

/**
 * The whole path on a fresh clone with nothing configured: embedded PostgreSQL (unless
 * DATABASE_URL is set), the small sample, migrate, land, transform, and the funnel.
 */
async function demoCommand(values: { serve: boolean }): Promise<number> {
  const sample = join(projectRoot(), '.data', 'sample');
  if (!existsSync(join(sample, REGISTRY_SNAPSHOT))) {
    log(`generating the small sample into ${sample}`);
    await generate({ out: sample, scale: 'small' });
  }
  const manifest = JSON.parse(readFileSync(join(sample, 'manifest.json'), 'utf8')) as ManifestFile[];
  const truth = JSON.parse(readFileSync(join(sample, 'truth.json'), 'utf8')) as Truth;

  const db = await openDatabase({ log, poolSize: 12 });
  try {
    await migrate(db.url);
    await useSampleWindow(db.pool, truth.window_start);
    log(`load window starts ${truth.window_start} (etl.setting window_start)`);
    await landManifest(db.pool, sample, manifest);
    const run = await runTransform(db.pool, { onNotice: log });
    log(`transform: ${run.seconds.toFixed(1)}s; ${run.stats.registry_checks_queued ?? 0} registry checks queued`);
    // the registry from the sample's snapshot: the checks the transform queued, then the
    // transform again with their answers (DaData instead: registry.provider in the config)
    const imported = await importSnapshot(db.pool, join(sample, REGISTRY_SNAPSHOT));
    const started = Date.now();
    await drainQueue({ pool: db.pool, registry: registryConfig({ sources: {}, registry: { provider: 'snapshot', concurrency: 8 } }), log });
    const again = await runTransform(db.pool, { onNotice: log });
    log(`registry: ${imported} companies in the snapshot, checks done in ${((Date.now() - started) / 1000).toFixed(1)}s; transform ${again.seconds.toFixed(1)}s`);
    process.stdout.write(`\n${await funnel(db.pool)}\n\n`);
    const connect = process.env.DATABASE_URL
      ? 'psql "$DATABASE_URL"'
      : 'PGPASSWORD=b2b-etl-embedded psql -h 127.0.0.1 -p 54329 -U postgres postgres';
    process.stdout.write(
      `Explore it with ${values.serve ? '' : '`npx b2b-etl demo --serve` (keeps the database up) and '}${connect}, for example:\n` +
        `  select reason, count(*) from etl.rejection where resolved_at is null group by 1;\n` +
        `  select * from etl.why('store_b:B-5');\n` +
        `  select * from canonical.company limit 10;\n`,
    );
    if (values.serve) {
      log('database is up; press Ctrl-C to stop it');
      await new Promise<void>((resolve) => process.once('SIGINT', () => resolve()));
    }
    return 0;
  } finally {
    await db.close();
  }
}
