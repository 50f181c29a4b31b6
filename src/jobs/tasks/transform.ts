import type { Task } from 'graphile-worker';
import { runTransform } from '../../transform/run.js';
import type { JobContext } from '../context.js';

/** transform: the incremental transform (new batches and changed registry answers). */
export function transformTask(ctx: JobContext): Task {
  return async (_payload, helpers) => {
    const result = await runTransform(ctx.pool);
    const s = result.stats;
    helpers.logger.info(`transform run ${result.runId}: ${s.company_records ?? 0} company and ${s.contact_records ?? 0} contact records, ` +
      `${s.companies_written ?? 0} companies written, ${result.seconds.toFixed(1)}s`);
  };
}
