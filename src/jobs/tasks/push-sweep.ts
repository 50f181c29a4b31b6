import type { Task } from 'graphile-worker';
import { sweepPush } from '../../crm/queue.js';
import { sweepTransform } from '../chain.js';
import type { JobContext } from '../context.js';

/**
 * push_sweep (the worker's crontab): a transform for batches a lost queueing left behind
 * (chain.ts sweepTransform), and a crm_push for the webhook's portal when it has work
 * (queue.ts sweepPush).
 */
export function pushSweepTask(ctx: JobContext): Task {
  return async (_payload, helpers) => {
    if (await sweepTransform(ctx.pool)) helpers.logger.info('push_sweep: batches landed over 30 s ago wait with no transform job: one is queued');
    if (await sweepPush(ctx.pool)) helpers.logger.info('push_sweep: a crm_push is queued for the portal of BITRIX24_WEBHOOK_URL');
  };
}
