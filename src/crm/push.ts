import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type pg from 'pg';
import { ConfigError, configPath, type Config } from '../config.js';
import { formatCount, formatDuration } from '../land/progress.js';
import { BatchSender, rowsOf } from './batches.js';
import { createCompanies, inspectUnknown, reconcileCompanies } from './companies.js';
import { createContacts, inspectUnknownContacts, updateContacts } from './contacts.js';
import { byEntity, emptyStats, type ByEntity, type PushContext, type PushMode, type PushStats } from './context.js';
import { estimatePush, executionBound, type PushEstimate } from './estimate.js';
import { PRESET_XML_IDS } from './fields.js';
import { CRM_ENTITIES, LinkStore, type CrmEntity, type LinkRow } from './links.js';
import { createDeals, endDealImports, inspectUnknownDeals, updateDeals } from './deals.js';
import { PLAN_LIMITS, PortalPacing, type PacingStats, type PortalLimits } from './pacing.js';
import { planPush, type PushPlan } from './plan.js';
import { PortalClient, PushStoppedError, WrongPortalError } from './portal-client.js';
import { identifyPortal } from './portal-identity.js';
import { queuePortalPush } from './queue.js';
import { RestTransport } from './rest.js';
import { pause, StopRequestedError } from './stop.js';
import { parseWebhook } from './webhook.js';

export interface PushOptions {
  /** The inbound webhook (BITRIX24_WEBHOOK_URL). */
  webhookUrl: string | undefined;
  /** import (default): crm.item.batchImport, no automation; add: crm.*.add with REGISTER_SONET_EVENT=N. */
  mode?: PushMode;
  plan?: 'standard' | 'enterprise';
  /** Overrides of the plan's limits. */
  limits?: Partial<PortalLimits>;
  /** Print the plan (created, adopted, updated) and how long it would take, without writing to the portal. */
  dryRun?: boolean;
  /**
   * Aborted (SIGTERM): nothing more is claimed or sent, every wait ends at once; the batches at
   * the portal are answered and recorded, what was never sent is released, and the push returns.
   */
  signal?: AbortSignal;
  /**
   * Given a function that releases what this push claimed and never sent: a second signal
   * calls it before the process ends without waiting for the portal.
   */
  onHardStop?: (release: () => Promise<void>) => void;
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
  /** crm.portal: the name of the portal the webhook reaches (see portal-identity.ts). */
  portalName?: string;
  /** The portal holds entities of ours no link names (lost links): find them again instead of stopping. */
  relink?: boolean;
  /** The portal a queued job was for: a webhook that reaches another portal is refused. */
  expectPortal?: string;
}

/**
 * The options the configuration's crm section sets (the command line may override them).
 * `caFile` is read relative to the configuration file's folder; one that cannot be read is a
 * problem of the configuration.
 */
export function pushOptionsFromConfig(crm: NonNullable<Config['crm']>, file = configPath()): Pick<PushOptions, 'mode' | 'plan' | 'limits' | 'concurrency' | 'chunk' | 'ca' | 'settleSeconds' | 'portalName'> {
  let ca: Buffer | undefined;
  if (crm.caFile) {
    const path = resolve(dirname(file), crm.caFile);
    const problem = 'name the certificate of the portal (for the sandbox: the file `b2b-etl sandbox` printed), relative to this file\'s folder or absolute';
    try {
      ca = readFileSync(path);
    } catch (e) {
      throw new ConfigError(`${file}: crm.caFile: cannot read ${path} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}): ${problem}`);
    }
    if (!ca.includes('-----BEGIN CERTIFICATE-----')) throw new ConfigError(`${file}: crm.caFile: ${path} holds no PEM certificate: ${problem}`);
  }
  return {
    mode: crm.mode,
    plan: crm.plan,
    limits: {
      ...(crm.bucketSize ? { size: crm.bucketSize } : {}), ...(crm.drain ? { drain: crm.drain } : {}),
      ...(crm.operatingLimit ? { operatingLimit: crm.operatingLimit } : {}), ...(crm.operatingWindow ? { operatingWindow: crm.operatingWindow } : {}),
    },
    concurrency: crm.concurrency,
    chunk: crm.chunk,
    ca,
    settleSeconds: crm.settleSeconds,
    portalName: crm.portal,
  };
}

export interface PushResult {
  runId: number;
  /** The portal's name, and the address the webhook reached it at. */
  portal: string;
  address: string;
  mode: PushMode;
  stats: PushStats;
  pacing: PacingStats;
  commands: number;
  seconds: number;
  /** Linked entities no longer in the clean base: reported, never deleted from the CRM. */
  departed: Record<CrmEntity, number>;
  plan?: PushPlan;
  estimate?: PushEstimate;
  /** The signal stopped it before it went through everything: the next push goes on. */
  interrupted?: boolean;
  /** Why it stopped before it was done (the portal went away, refused the webhook's rights). */
  stopped?: string;
  /** Canonical companies waiting for the registry's answer: they go to the CRM once it says ACTIVE. */
  waitingForRegistry: number;
  /** A crm_push was queued for what is left (a stop, a portal gone, writes refused or unconfirmed). */
  queued: boolean;
}

const IMPORT = 'crm.item.batchImport';
const FIRST_PUSH_LOCK = 'b2b-etl crm first push';
/**
 * Deals are imported with their order's creation time, which may not go before a deal the
 * portal holds: a push reads the newest once its turn comes, and two pushes to one portal
 * importing at once would each date theirs after a newest the other has already passed.
 */
export const IMPORT_TURN_LOCK = 'b2b-etl crm deal import';

/** Times an entity whose write got no answer is sent again in one run. */
const RESENDS = 2;

/**
 * One push of the clean base to a portal: companies (with requisite, bank detail and legal
 * address) and then their contacts, only what changed since the last push (etl.crm_link),
 * within the portal's limits, never a duplicate: the portal is known by what it holds, not by
 * its address; every new company is first looked for by INN; a write whose answer was lost is
 * looked up once the portal cannot still be running it, and what is not there is sent again
 * in the same run. Nothing is ever deleted from the CRM, and what a manager deleted there is
 * not created again.
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
  const pacing = new PortalPacing(pool, webhook.address, webhook.userId, limits, log, o.signal);
  const client = new PortalClient(transport, pacing, log, o.signal);
  let run: { runId: number; ctx: PushContext; reporter: PushProgress } | undefined;
  try {
    const identify = (recordFresh: boolean) => identifyPortal(pool, client, webhook, { configured: o.portalName, relink: o.relink, record: !o.dryRun, recordFresh, log });
    let identity = await identify(false);
    const checkExpected = () => {
      if (o.expectPortal !== undefined && o.expectPortal !== identity.name) {
        throw new WrongPortalError(`the job is for portal ${o.expectPortal}, but BITRIX24_WEBHOOK_URL reaches portal ${identity.name} (at ${webhook.address}): not pushed`);
      }
    };
    // before a first push's turn: a job for a known portal never makes another one known
    checkExpected();
    if (identity.fresh && !o.dryRun) {
      // a first push takes its turn, then looks again: one started before through another
      // address of this portal has filled it by then, and it is recognised
      await takeTurn(lock, FIRST_PUSH_LOCK, log,
        'push: waiting for another first push to a new portal to finish: first pushes take turns, so two addresses of one portal are not taken for two portals', o.signal);
      identity = await identify(true);
    }
    checkExpected();
    pacing.identify(identity.name, webhook.userId);
    const { rows: [row] } = await pool.query<{ run_id: string }>(
      'insert into etl.crm_push_run (portal, mode, dry_run) values ($1, $2, $3) returning run_id', [identity.name, mode, o.dryRun ?? false]);
    const runId = Number(row!.run_id);
    const stats = emptyStats();
    const reporter = new PushProgress(log, o.progressSeconds ?? 10, limits, client, mode);
    const ctx: PushContext = {
      pool, client, sender: new BatchSender(client, o.concurrency ?? 2, o.signal), links: new LinkStore(pool, identity.name, session, runId), mode,
      presets: { company: 0, individual: 0 }, stats, runId, log, progress: () => reporter.tick(stats),
      settleMs: (o.settleSeconds ?? 90) * 1000, createdCompanies: new Set(), countedOnce: new Set(), signal: o.signal,
      again: byEntity(), notFound: byEntity(), lostUpdates: new Set(),
      importTurn: () => takeTurn(lock, `${IMPORT_TURN_LOCK}:${identity.name}`, log,
        'push: waiting for another push to this portal to finish importing its deals: imports take turns, as the portal takes no deal created before one it holds', o.signal),
    };
    run = { runId, ctx, reporter };
    o.onHardStop?.(() => releaseUnsent(ctx));
  } catch (e) {
    lock.release(true); // the connection goes, and the session's locks with it
    await client.close();
    throw e;
  }
  const { runId, ctx, reporter } = run;
  const result: PushResult = {
    runId, portal: ctx.links.portal, address: webhook.address, mode, stats: ctx.stats, pacing: pacing.stats, commands: 0, seconds: 0,
    departed: { company: 0, contact: 0, deal: 0 }, waitingForRegistry: 0, queued: false,
  };
  const stopping = () => o.signal?.aborted === true;
  const givenUp = byEntity();
  let stoppedWorthRetrying = false;
  try {
    result.waitingForRegistry = await waitingForRegistry(pool);
    ctx.presets = await findPresets(ctx);
    if (o.dryRun) {
      result.plan = await planPush(ctx);
      result.estimate = await estimatePush(ctx, result.plan, o.concurrency ?? 2);
      return result;
    }
    // what a dead push or a lost answer left: looked up before anything is sent
    await inspectUnknown(ctx, false);
    await inspectUnknownContacts(ctx, false);
    await inspectUnknownDeals(ctx, false);
    for (const entity of CRM_ENTITIES) ctx.again[entity].clear(); // the first round takes them with the rest
    const chunk = o.chunk ?? 400;
    const rounds = { stopping, reporter, givenUp, chunk };
    await entityRounds(ctx, 'company', { ...rounds, limit: o.limit, create: createCompanies, update: reconcileCompanies, inspect: inspectUnknown });
    if (!stopping()) {
      await entityRounds(ctx, 'contact', { ...rounds, chunk: chunk * 5, create: createContacts, update: updateContacts, inspect: inspectUnknownContacts });
    }
    if (!stopping()) {
      await entityRounds(ctx, 'deal', { ...rounds, chunk: chunk * 5, create: createDeals, update: updateDeals, inspect: inspectUnknownDeals });
      await endDealImports(ctx);
    }
    if (stopping()) result.interrupted = true;
    else result.departed = await countUnchanged(ctx, started);
    return result;
  } catch (e) {
    if (e instanceof StopRequestedError) {
      result.interrupted = true;
      return result;
    }
    if (!(e instanceof PushStoppedError)) throw e;
    result.stopped = e.message;
    stoppedWorthRetrying = e.worthRetrying;
    return result;
  } finally {
    // answers still on their way are recorded; claims that never left are released
    await ctx.sender.idle();
    await releaseUnsent(ctx).catch(() => {});
    if (!o.dryRun) {
      const { rows: [open] } = await pool.query<{ n: number }>(
        `select count(*)::int as n from etl.crm_link where portal = $1 and claimed_by = $2 and state = 'sending'`, [ctx.links.portal, session]).catch(() => ({ rows: [{ n: 0 }] }));
      ctx.stats.unconfirmed = open!.n;
      ctx.stats.leftOut = givenUp.company.size + givenUp.contact.size + givenUp.deal.size;
    }
    result.commands = client.commands;
    result.seconds = (Date.now() - started) / 1000;
    // the portal's trouble (answers lost, writes refused, the portal gone) is asked again later and later; a push stopped by
    // its own process (a worker's SIGTERM, a person's Ctrl-C) found nothing wrong there: what it left is due at once, for
    // another worker or this one restarted
    const trouble = ctx.stats.unconfirmed + ctx.stats.leftOut + ctx.stats.refused > 0 || (result.stopped !== undefined && stoppedWorthRetrying);
    if (!o.dryRun && (trouble || result.interrupted === true)) result.queued = await queueLeftover(pool, ctx.links.portal, trouble).catch(() => false);
    await pool.query('update etl.crm_push_run set finished_at = now(), stats = $2 where run_id = $1',
      [runId, JSON.stringify({ ...ctx.stats, pacing: result.pacing, commands: result.commands, departed: result.departed,
        stopped: result.interrupted === true || result.stopped !== undefined, ...(result.stopped ? { reason: result.stopped } : {}),
        queued: result.queued, backoff: result.queued && trouble })]).catch(() => {});
    // rows this session still claims (a stop in the middle) are free for the next push
    await pool.query(`update etl.crm_link set claimed_by = null where claimed_by = $1 and state <> 'sending'`, [session]).catch(() => {});
    lock.release(true); // the connection goes, and the session's locks with it
    await client.close();
  }
}

/**
 * A crm_push for work a push left. For the portal's trouble: due in a minute, later (up to an
 * hour) the more runs before this one left work for trouble too — a portal that stays away is
 * not asked every minute (a run that went well, or stopped only because its process did,
 * begins the count again). Otherwise due now.
 */
async function queueLeftover(pool: pg.Pool, portal: string, trouble: boolean): Promise<boolean> {
  if (!trouble) {
    await queuePortalPush(pool, portal, 0);
    return true;
  }
  const { rows } = await pool.query<{ backoff: boolean }>(
    `select coalesce((stats ->> 'backoff')::boolean, (stats ->> 'queued')::boolean, false) as backoff from etl.crm_push_run
     where portal = $1 and not dry_run and finished_at is not null order by run_id desc limit 6`, [portal]);
  const before = rows.findIndex((r) => !r.backoff);
  await queuePortalPush(pool, portal, Math.min(3600, 60 * 2 ** (before < 0 ? rows.length : before)));
  return true;
}

/**
 * A turn of this warehouse's pushes, held by the session's connection until it is given back
 * (`untake`) or the push ends: one first push at a time (FIRST_PUSH_LOCK), one deal import per
 * portal at a time (IMPORT_TURN_LOCK).
 */
async function takeTurn(lock: pg.PoolClient, name: string, log: (line: string) => void, waiting: string, signal?: AbortSignal): Promise<() => Promise<void>> {
  for (let said = false; ; said = true) {
    const { rows } = await lock.query<{ ok: boolean }>('select pg_try_advisory_lock(hashtext($1)) as ok', [name]);
    if (rows[0]!.ok) return async () => { await lock.query('select pg_advisory_unlock(hashtext($1))', [name]); };
    if (!said) log(waiting);
    await pause(1000, signal);
  }
}

/** Claims of this push whose batch never left are released: nothing of them can be in the CRM. */
async function releaseUnsent(ctx: PushContext): Promise<void> {
  for (const entity of CRM_ENTITIES) await ctx.links.forgetUnsent(entity);
}

/** Canonical companies the registry has not answered for: they wait for it before they may go to a CRM. */
async function waitingForRegistry(pool: pg.Pool): Promise<number> {
  const { rows } = await pool.query<{ n: number }>(
    `select count(*)::int as n from canonical.company where not is_deleted and not is_ready and registry_status is null`);
  return rows[0]!.n;
}

interface Rounds {
  stopping: () => boolean;
  reporter: PushProgress;
  /** Entities whose write got no answer every time it was sent: neither confirmed nor sent again. */
  givenUp: ByEntity;
  chunk: number;
  limit?: number;
  create: (ctx: PushContext, ids: readonly string[]) => Promise<{ sending: Promise<void> }>;
  update: (ctx: PushContext, rows: readonly LinkRow[]) => Promise<void>;
  inspect: (ctx: PushContext, ownToo: boolean) => Promise<void>;
}

/**
 * One kind of entity, in rounds: the new ones are created (`limit` caps the first round),
 * then the changed ones, and those the creates adopted, brought up to date; then the writes of
 * the round that got no answer are looked up. What they left undone — not in the CRM, or
 * found without all it carried — is the next round's work, up to RESENDS times an entity.
 */
async function entityRounds(ctx: PushContext, entity: CrmEntity, r: Rounds): Promise<void> {
  let only: Set<string> | null = null;
  for (let round = 0; ; round++) {
    const pick = (ids: string[]) => (only ? ids.filter((id) => only!.has(id)) : ids);
    const work = await ctx.links.work(entity);
    const fresh = pick(work.fresh);
    if (round === 0) r.reporter.total += Math.min(fresh.length, r.limit ?? Infinity) + work.changed.length;
    await eachChunk(r.stopping, ctx.sender, fresh, r.chunk, round === 0 ? r.limit : undefined, async (ids) => {
      const claimed = await ctx.links.claimNew(entity, ids);
      return { taken: claimed.length, ...(claimed.length > 0 ? await r.create(ctx, claimed) : {}) };
    });
    if (r.stopping()) return;
    // changed, and those this round adopted (their phones and e-mails are added now)
    const changed = pick((await ctx.links.work(entity)).changed);
    await eachChunk(r.stopping, ctx.sender, changed, r.chunk, undefined, async (ids) => {
      const rows = await ctx.links.claimChanged(entity, ids, round > 0);
      if (rows.length > 0) await r.update(ctx, rows);
      return { taken: rows.length };
    });
    if (r.stopping()) return;
    await r.inspect(ctx, true);
    only = new Set();
    for (const id of ctx.again[entity]) {
      if (round < RESENDS) only.add(id);
      // found in the CRM, their write was done: the next push completes them; not found, they are left out
      else if (ctx.notFound[entity].has(id)) r.givenUp[entity].add(id);
    }
    ctx.again[entity].clear();
    if (only.size === 0) return;
    ctx.stats.sentAgain += only.size;
    ctx.log(`push: sending ${formatCount(only.size)} ${{ company: 'companies', contact: 'contacts', deal: 'deals' }[entity]} again: their writes got no answer, ` +
      'and the CRM was looked up for what they did');
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
async function countUnchanged(ctx: PushContext, started: number): Promise<Record<CrmEntity, number>> {
  const { rows } = await ctx.pool.query<{ entity: CrmEntity; unchanged: string; departed: string }>(`
    select l.entity,
      count(*) filter (where o.out_hash = l.pushed_hash and l.pushed_at < $2) as unchanged,
      count(*) filter (where o.out_hash is null and l.state = 'linked') as departed
    from etl.crm_link l
    left join lateral (
      select out_hash from etl.crm_company_out where l.entity = 'company' and company_id = l.canonical_id
      union all
      select out_hash from etl.crm_contact_out where l.entity = 'contact' and contact_id = l.canonical_id
      union all
      select out_hash from etl.crm_deal_out where l.entity = 'deal' and deal_id = l.canonical_id
    ) o on true
    where l.portal = $1
    group by l.entity`, [ctx.links.portal, new Date(started)]);
  const departed = { company: 0, contact: 0, deal: 0 };
  for (const r of rows) {
    ctx.stats[r.entity].unchanged += Number(r.unchanged);
    departed[r.entity] = Number(r.departed);
  }
  return departed;
}

/**
 * Progress of a push: entities done of those this run has to do, what this run created or
 * adopted, commands and requests a second, and the time left: the longer of what the request
 * rate allows and what the portal's execution-time limit allows for the imports left (at the
 * cost a unit this portal reported), or the pace so far once the portal's execution time has
 * held requests back.
 */
class PushProgress {
  total = 0;
  private readonly started = Date.now();
  private last = 0;
  /** Execution seconds an imported item costs at this portal, and what the window has used, refreshed as answers come. */
  private cost: number | null = null;
  private operating = 0;

  constructor(
    private readonly log: (line: string) => void, private readonly everySeconds: number, private readonly limits: PortalLimits,
    private readonly client: PortalClient, private readonly mode: PushMode,
  ) {}

  tick(stats: PushStats): void {
    if (this.everySeconds <= 0 || Date.now() - this.last < this.everySeconds * 1000) return;
    this.last = Date.now();
    void Promise.all([this.client.pacing.costPerUnit(IMPORT), this.client.pacing.operatingNow(IMPORT)])
      .then(([cost, operating]) => [this.cost, this.operating] = [cost, operating], () => {});
    const seconds = Math.max((Date.now() - this.started) / 1000, 0.001);
    const done = CRM_ENTITIES.reduce((n, e) => n + stats[e].created + stats[e].adopted + stats[e].updated + stats[e].failed + stats[e].deleted, 0);
    const left = Math.max(this.total - done, 0);
    const requests = this.client.pacing.stats.requests;
    const perRequest = requests > 0 ? done / requests : 0;
    const atRequestRate = perRequest > 0 ? left / perRequest / this.limits.drain : NaN;
    // the cost this portal reported (read at the tick before): a guess from the docs would say hours where the portal may take minutes
    const cost = this.mode === 'import' ? this.cost ?? 0 : 0;
    const atExecutionTime = executionBound(left * cost, this.limits, this.operating);
    // once the portal's execution time has held requests back, the pace so far says it best
    const atPace = this.client.pacing.stats.waitedForOperatingMs > 0 && done > 0 ? left / (done / seconds) : NaN;
    const estimate = Math.max(...[atRequestRate, atExecutionTime, atPace].filter(Number.isFinite));
    const bound = estimate === atRequestRate ? `at ${this.limits.drain} requests/s` : 'at the pace the portal\'s execution-time limit allows';
    const n = formatCount;
    this.log(`push: ${n(Math.min(done, this.total))} of ${n(this.total)} entities; this run created or adopted ${n(stats.company.created + stats.company.adopted)} ` +
      `companies, ${n(stats.contact.created + stats.contact.adopted)} contacts and ${n(stats.deal.created)} deals; ${(this.client.commands / seconds).toFixed(1)} commands/s, ` +
      `${(requests / seconds).toFixed(2)} requests/s${left > 0 && Number.isFinite(estimate) && estimate > 0 ? `; about ${formatDuration(estimate)} left ${bound}` : ''}`);
  }
}
