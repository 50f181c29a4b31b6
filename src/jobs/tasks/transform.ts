import type { Task } from 'graphile-worker';
import { runTransform } from '../../transform/run.js';
import type { JobContext } from '../context.js';

/**
 * transform: the incremental transform (new batches and changed registry answers), queued
 * by every landing and every registry answer (chain.ts); it queues the registry checks and
 * the push that follow it.
 */
export function transformTask(ctx: Pick<JobContext, 'pool'>): Task {
  return async (_payload, helpers) => {
    const result = await runTransform(ctx.pool);
    const s = result.stats;
    helpers.logger.info(`transform run ${result.runId}: ${s.company_records ?? 0} company, ${s.contact_records ?? 0} contact and ${s.order_records ?? 0} order records, ` +
      `${s.companies_written ?? 0} companies written, ${result.seconds.toFixed(1)}s`);
    if (result.statisticsError) helpers.logger.warn(`transform run ${result.runId}: ${result.statisticsError}`);
  };
}
