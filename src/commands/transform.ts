import { parseArgs } from 'node:util';
import { runTransform } from '../transform/run.js';
import { log, withDatabase } from './context.js';

export async function transformCommand(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { full: { type: 'boolean', default: false } } });
  const result = await withDatabase((db) => runTransform(db.pool, { full: values.full, onNotice: log }));
  const s = result.stats;
  log(`transform ${values.full ? 'full' : 'incremental'} run ${result.runId}: ${s.batches} batches, ` +
    `${s.company_records} company and ${s.contact_records} contact records, ` +
    `${s.companies_written} companies and ${s.contacts_written} contacts written, ${s.problems} problems, ` +
    `${result.phonesParsed} new phone texts parsed, ${result.seconds.toFixed(1)}s` +
    (result.vacuumSeconds >= 0.05 ? ` (then vacuum ${result.vacuumSeconds.toFixed(1)}s)` : ''));
  return 0;
}
