import type { Task } from 'graphile-worker';
import { loadConfig } from '../../config.js';
import { PushStoppedError } from '../../crm/portal-client.js';
import { push, pushOptionsFromConfig } from '../../crm/push.js';
import type { JobContext } from '../context.js';

export interface CrmPushPayload {
  /** host/user of the webhook the job was queued for. */
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
 * BITRIX24_WEBHOOK_URL (queued after a transform that wrote canonical rows). A push the
 * portal stopped (a wrong webhook, a missing right) is reported and not tried again until the
 * next transform queues it: retrying could not help.
 */
export function crmPushTask(ctx: JobContext): Task {
  return async (payload, helpers) => {
    assertCrmPushPayload(payload);
    const crm = loadConfig().crm ?? {};
    try {
      const result = await push(ctx.pool, {
        ...pushOptionsFromConfig(crm),
        webhookUrl: process.env.BITRIX24_WEBHOOK_URL,
        log: (line) => helpers.logger.info(line),
        progressSeconds: 60,
      });
      const s = result.stats;
      helpers.logger.info(`crm_push run ${result.runId} to ${result.portal}: companies ${s.company.created} created, ${s.company.adopted} adopted, ` +
        `${s.company.updated} updated, ${s.company.failed} failed; contacts ${s.contact.created} created, ${s.contact.adopted} adopted, ` +
        `${s.contact.updated} updated, ${s.contact.failed} failed; ${s.refused} refused by the portal's limits; ${result.pacing.requests} requests in ${result.seconds.toFixed(1)}s`);
    } catch (e) {
      if (!(e instanceof PushStoppedError)) throw e;
      helpers.logger.error(`crm_push to ${payload.portal} stopped: ${e.message}`);
    }
  };
}
