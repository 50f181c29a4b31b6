import type { Task } from 'graphile-worker';
import { sweepPush } from '../../crm/queue.js';
import type { JobContext } from '../context.js';

/** push_sweep (the worker's crontab): a crm_push for the webhook's portal when it has work (queue.ts sweepPush). */
export function pushSweepTask(ctx: JobContext): Task {
  return async (_payload, helpers) => {
    if (await sweepPush(ctx.pool)) helpers.logger.info('push_sweep: a crm_push is queued for the portal of BITRIX24_WEBHOOK_URL');
  };
}
