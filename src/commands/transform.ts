import type { Command } from 'commander';
import { runTransform } from '../transform/run.js';
import { log, withDatabase } from './context.js';
import { action } from './define.js';

export function defineTransform(program: Command): void {
  program
    .command('transform')
    .summary('clean, validate and dedupe what landed (or everything)')
    .description('Parses new phone texts, then calls etl.transform(): the batches not yet transformed, or with --full all of staging.')
    .option('--full', 'recompute from all of staging (keeps canonical ids)', false)
    .action(action((flags: { full: boolean }) => transformCommand(flags)));
}

async function transformCommand(values: { full: boolean }): Promise<number> {
  const result = await withDatabase((db) => runTransform(db.pool, { full: values.full, onNotice: log }));
  const s = result.stats;
  log(`transform ${values.full ? 'full' : 'incremental'} run ${result.runId}: ${s.batches} batches, ` +
    `${s.company_records} company, ${s.contact_records} contact and ${s.order_records ?? 0} order records, ` +
    `${s.companies_written} companies, ${s.contacts_written} contacts and ${s.deals_written ?? 0} deals written, ${s.problems} problems, ` +
    `${result.phonesParsed} new phone texts parsed, ${result.seconds.toFixed(1)}s` +
    (result.vacuumSeconds >= 0.05 ? ` (then vacuum ${result.vacuumSeconds.toFixed(1)}s)` : ''));
  return 0;
}
