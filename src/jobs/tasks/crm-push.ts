import type { Task } from 'graphile-worker';
import { loadConfig } from '../../config.js';
import { PushStoppedError, WrongPortalError } from '../../crm/portal-client.js';
import { push, pushOptionsFromConfig } from '../../crm/push.js';
import { describePush } from '../../crm/summary.js';
import type { JobContext } from '../context.js';

export interface CrmPushPayload {
  /** The portal the job was queued for: its name, or the address of a portal not pushed to yet. */
  portal: string;
}

export function assertCrmPushPayload(payload: unknown): asserts payload is CrmPushPayload {
  const p = payload as Partial<CrmPushPayload> | null;
  if (typeof p !== 'object' || p === null || typeof p.portal !== 'string') {
    throw new Error(`crm_push: payload must be {"portal": "host/user"}, got ${JSON.stringify(payload)}`);
  }
}

/**
 * crm_push: what changed in the clean base since the last push, to the portal of
 * BITRIX24_WEBHOOK_URL (queued after a transform that wrote canonical rows, and by a push that
 * left work over); a job queued for a portal this warehouse knows pushes only if the webhook
 * still reaches that portal. A push the portal stopped (a wrong webhook, a missing right) is
 * reported and not tried again until the next transform queues it: retrying could not help.
 */
export function crmPushTask(ctx: JobContext): Task {
  return async (payload, helpers) => {
    assertCrmPushPayload(payload);
    const crm = loadConfig().crm ?? {};
    const { rows } = await ctx.pool.query('select from etl.crm_portal where portal = $1', [payload.portal]);
    try {
      const result = await push(ctx.pool, {
        ...pushOptionsFromConfig(crm),
        webhookUrl: process.env.BITRIX24_WEBHOOK_URL,
        expectPortal: rows.length > 0 ? payload.portal : undefined,
        // the worker stopping: the push stops as a SIGTERM stops it, and queues what is left
        signal: helpers.abortSignal,
        log: (line) => helpers.logger.info(line),
        progressSeconds: 60,
      });
      for (const line of describePush(result).split('\n')) helpers.logger.info(line);
      if (result.stopped) helpers.logger.error(`crm_push to ${result.portal} stopped: ${result.stopped}`);
      else if (result.interrupted) {
        helpers.logger.info(`crm_push to ${result.portal}: the worker stopped it before it was done; ${result.queued ? 'what is left is queued, due now' : 'the next push goes on'}`);
      }
    } catch (e) {
      // another portal than the job's: the job fails, with why, for a person to see (status)
      if (!(e instanceof PushStoppedError) || e instanceof WrongPortalError) throw e;
      helpers.logger.error(`crm_push to ${payload.portal} stopped: ${e.message}`);
    }
  };
}
