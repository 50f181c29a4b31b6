import type pg from 'pg';
import { untriedJobWaits } from '../jobs/chain.js';
import { portalOfAddress } from './portal-identity.js';
import { parseWebhook, WebhookError } from './webhook.js';

/**
 * After a transform that wrote canonical companies, contacts or deals, the push follows: a
 * crm_push job for the portal of BITRIX24_WEBHOOK_URL (none when it is not set). Returns
 * whether a job was queued.
 */
export async function queuePush(pool: pg.Pool, written: { companies: number; contacts: number; deals?: number }, env: NodeJS.ProcessEnv = process.env): Promise<boolean> {
  if (written.companies + written.contacts + (written.deals ?? 0) === 0) return false;
  const portal = await webhookPortal(pool, env);
  if (portal === null) return false;
  // A push waiting that was never tried starts after this commit and takes what it wrote: the
  // add would change nothing of it (a waiting job keeps its time) and take its row lock, every
  // few hundred ms behind a live feed. A failed one waiting for its retry is queued again: the
  // add makes it due in a second with its attempts reset. A new one is due in a second, for the
  // transforms of the next landings to join it.
  if (!(await untriedJobWaits(pool, pushJobKey(portal)))) await queuePortalPush(pool, portal, 1);
  return true;
}

/**
 * The worker's periodic sweep: a crm_push for the portal of BITRIX24_WEBHOOK_URL when it is
 * not pushed to yet, or the next push has something to send or to look up (etl.crm_portal_status).
 */
export async function sweepPush(pool: pg.Pool, env: NodeJS.ProcessEnv = process.env): Promise<boolean> {
  const portal = await webhookPortal(pool, env);
  if (portal === null) return false;
  const { rows } = await pool.query<{ waiting: string }>(
    'select companies_pending + contacts_pending + deals_pending + unanswered as waiting from etl.crm_portal_status where portal = $1', [portal]);
  if (rows[0] && Number(rows[0].waiting) === 0) return false;
  await queuePortalPush(pool, portal, 0);
  return true;
}

/** The portal BITRIX24_WEBHOOK_URL reaches, by its name when known (its address until then); null without a usable one. */
async function webhookPortal(pool: pg.Pool, env: NodeJS.ProcessEnv): Promise<string | null> {
  if (!env.BITRIX24_WEBHOOK_URL) return null;
  try {
    return await portalOfAddress(pool, parseWebhook(env.BITRIX24_WEBHOOK_URL).address);
  } catch (e) {
    if (e instanceof WebhookError) return null; // the push itself says what is wrong with it
    throw e;
  }
}

/**
 * A crm_push job for a portal (by its name), due in `seconds`. The job key keeps one waiting
 * job per portal (one already waiting keeps its due time), and the queue named after the
 * portal runs its jobs one at a time. `migrate` installs the job queue, so it is always there.
 */
export async function queuePortalPush(pool: pg.Pool, portal: string, seconds: number): Promise<void> {
  await pool.query(
    `select graphile_worker.add_job(identifier => 'crm_push', payload => json_build_object('portal', $1::text), queue_name => $2,
       run_at => now() + make_interval(secs => $3), job_key => $2, job_key_mode => 'preserve_run_at')`,
    [portal, pushJobKey(portal), seconds]);
}

/** A portal's crm_push job key and queue. */
const pushJobKey = (portal: string) => `crm_push:${portal}`;
