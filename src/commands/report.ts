import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { buildReport } from '../audit/report.js';
import { formatBytes } from '../land/progress.js';
import { log, withDatabase } from './context.js';
import { action } from './define.js';

export function defineReport(program: Command): void {
  program
    .command('report')
    .summary('the data-quality report: one HTML page with charts, for people')
    .description('Writes one self-contained HTML page (charts drawn as SVG, no scripts, nothing fetched: it opens without a network): ' +
      'the funnel per source, open rejections by reason and source with examples and the b2b-etl why command for each, their trend over ' +
      'the transform runs, merges by rule, registry statuses and CRM push outcomes, each chart with its numbers in a table. ' +
      'The numbers are the views of sql/audit/report.sql (etl.source_funnel, etl.rejection_by_source, etl.rejection_trend, ' +
      'etl.rejection_example, etl.merge_summary, etl.registry_status_summary, etl.crm_outcome). b2b-etl worker serves the same page at /.')
    .option('--out <file>', 'where to write the page', 'report.html')
    .action(action((flags: { out: string }) => reportCommand(flags)));
}

async function reportCommand(flags: { out: string }): Promise<number> {
  const html = await withDatabase((db) => buildReport(db.pool));
  const file = resolve(flags.out);
  try {
    writeFileSync(file, html);
  } catch (e) {
    throw new Error(`report: cannot write ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}; nothing was written`);
  }
  log(`report: wrote ${file} (${formatBytes(Buffer.byteLength(html))})`);
  return 0;
}
