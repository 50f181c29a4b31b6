import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type pg from 'pg';
import type { Config } from '../config.js';
import { formatCount, formatDuration } from '../land/progress.js';
import { BatchSender, rowsOf } from './batches.js';
import { createCompanies, inspectUnknown, reconcileCompanies } from './companies.js';
import { createContacts, inspectUnknownContacts, updateContacts } from './contacts.js';
import { emptyStats, type PushContext, type PushMode, type PushStats } from './context.js';
import { PRESET_XML_IDS } from './fields.js';
import { LinkStore, type CrmEntity } from './links.js';
import { PLAN_LIMITS, PortalPacing, type PacingStats, type PortalLimits } from './pacing.js';
import { PortalClient, PushStoppedError } from './portal-client.js';
import { RestTransport } from './rest.js';
import { parseWebhook } from './webhook.js';
import { planPush, type PushPlan } from './plan.js';

export interface PushOptions {
  /** The inbound webhook (BITRIX24_WEBHOOK_URL). */
  webhookUrl: string | undefined;
  /** import (default): crm.item.batchImport, no automation; add: crm.*.add with REGISTER_SONET_EVENT=N. */
  mode?: PushMode;
  plan?: 'standard' | 'enterprise';
  /** Overrides of the plan's limits. */
  limits?: Partial<PortalLimits>;
  /** Print the plan (created, adopted, updated) without writing to the portal. */
  dryRun?: boolean;
  /** Aborted (SIGTERM): nothing more is claimed; the batches in flight are answered and recorded, and the push returns. */
  signal?: AbortSignal;
  /** At most this many companies created or adopted in this run. */
  limit?: number;
  /** Batches in flight at once. */
  concurrency?: number;
  /** Companies claimed at a time (contacts: five times as many). */
  chunk?: number;
  /** A certificate authority to trust (a sandbox's self-signed certificate). */
  ca?: string | Buffer;
  timeoutMs?: number;
  log?: (line: string) => void;
  /** Seconds between progress lines; 0 for none. */
  progressSeconds?: number;
  /**
   * Seconds after a write got no answer before its entities are looked up (default 90: the
   * portal gives up on a request after 60 s, and may still be writing until then).
   */
  settleSeconds?: number;
}

/** The options the configuration's crm section sets (the command line may override them). */
export function pushOptionsFromConfig(crm: NonNullable<Config['crm']>): Pick<PushOptions, 'mode' | 'plan' | 'limits' | 'concurrency' | 'chunk' | 'ca' | 'settleSeconds'> {
  return {
    mode: crm.mode,
    plan: crm.plan,
    limits: { ...(crm.bucketSize ? { size: crm.bucketSize } : {}), ...(crm.drain ? { drain: crm.drain } : {}), ...(crm.operatingLimit ? { operatingLimit: crm.operatingLimit } : {}) },
    concurrency: crm.concurrency,
    chunk: crm.chunk,
    ca: crm.caFile ? readFileSync(crm.caFile) : undefined,
    settleSeconds: crm.settleSeconds,
  };
}

export interface PushResult {
  runId: number;
  portal: string;
  mode: PushMode;
  stats: PushStats;
  pacing: PacingStats;
  commands: number;
  seconds: number;
  /** Linked entities no longer in the clean base: reported, never deleted from the CRM. */
  departed: { company: number; contact: number };
  plan?: PushPlan;
  /** The signal stopped it before it went through everything: the next push goes on. */
  interrupted?: boolean;
}

/**
 * One push of the clean base to a portal: companies (with requisite, bank detail and legal
 * address) and then their contacts, only what changed since the last push (etl.crm_link),
 * within the portal's limits, never a duplicate: entities left 'sending' by a crash or a lost
 * answer are looked up before anything is sent again, and every new company is first looked
 * for by INN. Nothing is ever deleted from the CRM.
 */
export async function push(pool: pg.Pool, o: PushOptions): Promise<PushResult> {
  const webhook = parseWebhook(o.webhookUrl);
  const log = o.log ?? (() => {});
  const mode = o.mode ?? 'import';
  const limits = { ...PLAN_LIMITS[o.plan ?? 'standard'], ...o.limits };
  const started = Date.now();
  const session = randomUUID();
  // the session's lock: held while it runs, released by the server if the process dies
  const lock = await pool.connect();
  await lock.query('select pg_advisory_lock(hashtext($1))', [`crm_push:${session}`]);
  const transport = new RestTransport(webhook, { ca: o.ca, timeoutMs: o.timeoutMs });
  const pacing = new PortalPacing(pool, webhook.portal, webhook.webhook, limits, log);
  const client = new PortalClient(transport, pacing, log);
  const { rows: [run] } = await pool.query<{ run_id: string }>(
    'insert into etl.crm_push_run (portal, mode, dry_run) values ($1, $2, $3) returning run_id', [webhook.portal, mode, o.dryRun ?? false]);
  const stats = emptyStats();
  const reporter = new PushProgress(log, o.progressSeconds ?? 10, limits, client);
  const sender = new BatchSender(client, o.concurrency ?? 2);
  const ctx: PushContext = {
    pool, client, sender, links: new LinkStore(pool, webhook.portal, session, Number(run!.run_id)), mode, presets: { company: 0, individual: 0 },
    stats, runId: Number(run!.run_id), log, progress: () => reporter.tick(stats),
    settleMs: (o.settleSeconds ?? 90) * 1000, createdCompanies: new Set(), countedOnce: new Set(),
  };
  let result: PushResult | undefined;
  let departed = { company: 0, contact: 0 };
  const stopping = () => o.signal?.aborted === true;
  const interrupted = () => {
    result = finish();
    result.interrupted = true;
    return result;
  };
  try {
    ctx.presets = await findPresets(ctx);
    if (o.dryRun) {
      const plan = await planPush(ctx);
      result = finish();
      result.plan = plan;
      return result;
    }
    // what a dead push or a lost answer left: looked up before anything is sent
    await inspectUnknown(ctx, false);
    await inspectUnknownContacts(ctx, false);
    const chunk = o.chunk ?? 400;
    const companies = await ctx.links.work('company');
    reporter.total = companies.fresh.length + companies.changed.length;
    await eachChunk(stopping, sender, companies.fresh, chunk, o.limit, async (ids) => {
      const claimed = await ctx.links.claimNew('company', ids);
      return { taken: claimed.length, ...(claimed.length > 0 ? await createCompanies(ctx, claimed) : {}) };
    });
    if (stopping()) return interrupted();
    // changed, and those this run adopted (their phones and e-mails are added now)
    const again = await ctx.links.work('company');
    await eachChunk(stopping, sender, again.changed, chunk, undefined, async (ids) => {
      const rows = await ctx.links.claimChanged('company', ids);
      if (rows.length > 0) await reconcileCompanies(ctx, rows);
      return { taken: rows.length };
    });
    if (stopping()) return interrupted();
    await inspectUnknown(ctx, true);
    const contacts = await ctx.links.work('contact');
    reporter.total += contacts.fresh.length + contacts.changed.length;
    await eachChunk(stopping, sender, contacts.fresh, chunk * 5, undefined, async (ids) => {
      const claimed = await ctx.links.claimNew('contact', ids);
      return { taken: claimed.length, ...(claimed.length > 0 ? await createContacts(ctx, claimed) : {}) };
    });
    if (stopping()) return interrupted();
    const contactsAgain = await ctx.links.work('contact');
    await eachChunk(stopping, sender, contactsAgain.changed, chunk * 5, undefined, async (ids) => {
      const rows = await ctx.links.claimChanged('contact', ids);
      if (rows.length > 0) await updateContacts(ctx, rows);
      return { taken: rows.length };
    });
    if (stopping()) return interrupted();
    await inspectUnknownContacts(ctx, true);
    departed = await countUnchanged(ctx, started);
    result = finish();
    return result;
  } finally {
    // answers still on their way are recorded before the session lets its rows go
    await sender.idle();
    const final = result ?? finish();
    await pool.query('update etl.crm_push_run set finished_at = now(), stats = $2 where run_id = $1',
      [ctx.runId, JSON.stringify({ ...final.stats, pacing: final.pacing, commands: final.commands, departed: final.departed, stopped: result === undefined || result.interrupted === true })]).catch(() => {});
    // rows this session still claims (a stop in the middle) are free for the next push
    await pool.query(`update etl.crm_link set claimed_by = null where claimed_by = $1 and state <> 'sending'`, [session]).catch(() => {});
    await lock.query('select pg_advisory_unlock(hashtext($1))', [`crm_push:${session}`]).catch(() => {});
    lock.release();
    await client.close();
  }

  function finish(): PushResult {
    return { runId: ctx.runId, portal: webhook.portal, mode, stats, pacing: pacing.stats, commands: client.commands, seconds: (Date.now() - started) / 1000, departed };
  }
}

/** Requisite presets by XML_ID: an organisation's and an entrepreneur's (ids differ between portals). */
async function findPresets(ctx: PushContext): Promise<{ company: number; individual: number }> {
  const answer = await ctx.client.read('crm.requisite.preset.list', { select: ['ID', 'NAME', 'XML_ID', 'COUNTRY_ID'] });
  const byXml = new Map(rowsOf(answer.result).map((p) => [String(p.XML_ID), Number(p.ID)]));
  const company = byXml.get(PRESET_XML_IDS.company);
  const individual = byXml.get(PRESET_XML_IDS.individual);
  if (!company || !individual) {
    throw new PushStoppedError(`the portal has no requisite preset ${!company ? PRESET_XML_IDS.company : PRESET_XML_IDS.individual} ` +
      '(crm.requisite.preset.list): the Russian presets «Организация» and «ИП» are needed for INN, KPP and OGRN');
  }
  return { company, individual };
}

/**
 * Works through ids a chunk at a time; `limit` caps what `work` says it took. A chunk's
 * batches may still be on their way (`sending`) while the next chunk is prepared, as soon as
 * the sender has fewer batches waiting than it keeps in flight; all are settled on return.
 */
async function eachChunk(
  stopping: () => boolean, sender: BatchSender, ids: readonly string[], chunk: number, limit: number | undefined,
  work: (ids: string[]) => Promise<{ taken: number; sending?: Promise<void> }>,
): Promise<void> {
  const sending: Promise<void>[] = [];
  try {
    let taken = 0;
    for (let i = 0; i < ids.length; i += chunk) {
      const room = limit === undefined ? chunk : Math.min(chunk, limit - taken);
      // a failed sender: nothing more is claimed, the failure is thrown below; a stop: the same, quietly
      if (room <= 0 || sender.failed || stopping()) break;
      const done = await work(ids.slice(i, i + room));
      taken += done.taken;
      if (done.sending) {
        done.sending.catch(() => {}); // awaited below; a failure also stops the sender
        sending.push(done.sending);
        await sender.hungry();
      }
      if (room < chunk) i -= chunk - room;
    }
  } finally {
    await Promise.allSettled(sending);
  }
  await Promise.all(sending);
}

/** Linked and unchanged since before this run; and linked entities that left the clean base (reported, never deleted). */
async function countUnchanged(ctx: PushContext, started: number): Promise<{ company: number; contact: number }> {
  const { rows } = await ctx.pool.query<{ entity: CrmEntity; unchanged: string; departed: string }>(`
    select l.entity,
      count(*) filter (where o.out_hash = l.pushed_hash and l.pushed_at < $2) as unchanged,
      count(*) filter (where o.out_hash is null and l.state = 'linked') as departed
    from etl.crm_link l
    left join lateral (
      select out_hash from etl.crm_company_out where l.entity = 'company' and company_id = l.canonical_id
      union all
      select out_hash from etl.crm_contact_out where l.entity = 'contact' and contact_id = l.canonical_id
    ) o on true
    where l.portal = $1
    group by l.entity`, [ctx.links.portal, new Date(started)]);
  const departed = { company: 0, contact: 0 };
  for (const r of rows) {
    ctx.stats[r.entity].unchanged += Number(r.unchanged);
    departed[r.entity] = Number(r.departed);
  }
  return departed;
}

/** Progress of a push: entities, commands and requests a second, time left at the portal's rate. */
class PushProgress {
  total = 0;
  private readonly started = Date.now();
  private last = 0;

  constructor(private readonly log: (line: string) => void, private readonly everySeconds: number, private readonly limits: PortalLimits, private readonly client: PortalClient) {}

  tick(stats: PushStats): void {
    if (this.everySeconds <= 0 || Date.now() - this.last < this.everySeconds * 1000) return;
    this.last = Date.now();
    const seconds = Math.max((Date.now() - this.started) / 1000, 0.001);
    const done = (['company', 'contact'] as const).reduce((n, e) => n + stats[e].created + stats[e].adopted + stats[e].updated + stats[e].failed, 0);
    const requests = this.client.pacing.stats.requests;
    const perRequest = requests > 0 ? done / requests : 0;
    // once the portal's execution time has held requests back, the request rate says nothing: the pace so far does
    const timeBound = this.client.pacing.stats.waitedForOperatingMs > 0;
    const left = this.total <= done ? NaN
      : timeBound ? (done > 0 ? (this.total - done) / (done / seconds) : NaN)
      : perRequest > 0 ? (this.total - done) / perRequest / this.limits.drain : NaN;
    const pace = timeBound ? 'at the pace the portal\'s execution-time limit allows' : `at ${this.limits.drain} requests/s`;
    this.log(`push: ${formatCount(done)} of ${formatCount(this.total)} entities, ${formatCount(stats.company.created + stats.company.adopted)} companies and ` +
      `${formatCount(stats.contact.created + stats.contact.adopted)} contacts in the CRM, ${(this.client.commands / seconds).toFixed(1)} commands/s, ` +
      `${(requests / seconds).toFixed(2)} requests/s${Number.isFinite(left) ? `, about ${formatDuration(left)} left ${pace}` : ''}`);
  }
}
