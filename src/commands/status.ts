import type { Command } from 'commander';
import type pg from 'pg';
import { funnel } from '../audit/funnel.js';
import { crmStatus } from '../crm/status.js';
import { registryStatus } from '../registry/pause.js';
import { withDatabase } from './context.js';
import { action } from './define.js';

export function defineStatus(program: Command): void {
  program
    .command('status')
    .summary('the funnel, what waits for the transform and the registry, and the CRM per portal')
    .description('Prints the funnel (etl.funnel: landed → valid INN → accepted → canonical → ready for the CRM), ' +
      'the open rejections by reason (etl.rejection_summary), how many batches wait for the transform, the registry checks, ' +
      'and per CRM portal (etl.crm_portal_status): what is in it and what the next push sends, the last push and unfinished ones, ' +
      'failures by reason, entities deleted in the CRM, writes without an answer and queued pushes.')
    .action(action(() => statusCommand()));
}

async function statusCommand(): Promise<number> {
  const text = await withDatabase((db) => statusText(db.pool));
  process.stdout.write(text + '\n');
  return 0;
}

/** What `status` prints: the funnel, what waits for the transform, the registry, the CRM per portal. */
export async function statusText(pool: pg.Pool): Promise<string> {
  const { rows } = await pool.query<{ pending: string; last_run: string | null }>(`
    select (select count(*) from staging.batch where transformed_at is null) as pending,
           (select format('%s %s at %s', kind, run_id, to_char(finished_at, 'YYYY-MM-DD HH24:MI:SS'))
              from etl.run where finished_at is not null order by run_id desc limit 1) as last_run`);
  return `${await funnel(pool)}\nbatches waiting for the transform: ${rows[0]!.pending}; last transform: ${rows[0]!.last_run ?? 'never'}\n` +
    `${await registryStatus(pool)}\n${await crmStatus(pool)}`;
}
