import type pg from 'pg';
import { portalOfAddress } from './portal-identity.js';
import { parseWebhook, WebhookError } from './webhook.js';

/**
 * After a transform that wrote canonical companies or contacts, the push follows: a
 * crm_push job for the portal of BITRIX24_WEBHOOK_URL (none when it is not set). Returns
 * whether a job was queued.
 */
export async function queuePush(pool: pg.Pool, written: { companies: number; contacts: number }, env: NodeJS.ProcessEnv = process.env): Promise<boolean> {
  if (!env.BITRIX24_WEBHOOK_URL || written.companies + written.contacts === 0) return false;
  let address: string;
  try {
    address = parseWebhook(env.BITRIX24_WEBHOOK_URL).address;
  } catch (e) {
    if (e instanceof WebhookError) return false; // the push itself says what is wrong with it
    throw e;
  }
  return queuePortalPush(pool, await portalOfAddress(pool, address), 5);
}

/**
 * A crm_push job for a portal (by its name), due in `seconds`. The job key keeps one waiting
 * job per portal (one already waiting keeps its due time), and the queue named after the
 * portal runs its jobs one at a time. False when the job queue is not installed.
 */
export async function queuePortalPush(pool: pg.Pool, portal: string, seconds: number): Promise<boolean> {
  const { rows } = await pool.query<{ ready: boolean }>(`select to_regprocedure('graphile_worker.add_job(text,json,text,timestamptz,integer,text,integer,text[],text)') is not null as ready`);
  if (!rows[0]?.ready) return false;
  await pool.query(
    `select graphile_worker.add_job('crm_push', json_build_object('portal', $1::text), queue_name => $2,
       run_at => now() + make_interval(secs => $3), job_key => $2, job_key_mode => 'preserve_run_at')`,
    [portal, `crm_push:${portal}`, seconds]);
  return true;
}
