import type { Command } from 'commander';
import { checkQueue, currentPauses, liftPause } from '../registry/pause.js';
import { importSnapshot } from '../registry/snapshot.js';
import { log, withDatabase } from './context.js';
import { action } from './define.js';

/** `b2b-etl registry import|resume`: the snapshot provider's export, and a paused provider. */
export function defineRegistry(program: Command): void {
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
