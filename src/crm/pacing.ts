import type pg from 'pg';
import type { TimeBlock } from './rest.js';
import { pause } from './stop.js';

/** The portal's limits: the request bucket (size, drain a second) and each method's execution time per window. */
export interface PortalLimits {
  size: number;
  drain: number;
  /** Seconds of execution a method may use per window (480 in the cloud's docs). */
  operatingLimit: number;
  operatingWindow: number;
}

export const PLAN_LIMITS: Record<'standard' | 'enterprise', PortalLimits> = {
  standard: { size: 50, drain: 2, operatingLimit: 480, operatingWindow: 600 },
  enterprise: { size: 250, drain: 5, operatingLimit: 480, operatingWindow: 600 },
};

/** Requests kept below the bucket's size: the portal's own count may be ahead of ours by a request or two. */
const BUCKET_MARGIN = 2;
/** Before a cost is learned, a command is assumed to cost this much execution time. */
const FIRST_COST = 0.05;

export interface PacingStats {
  requests: number;
  /** Refusals the portal sent: 503 QUERY_LIMIT_EXCEEDED, 429 OPERATION_TIME_LIMIT. */
  refusedForBucket: number;
  refusedForOperating: number;
  waitedForBucketMs: number;
  waitedForOperatingMs: number;
}

interface MethodState {
  method: string;
  operating: number;
  reset_at: Date | null;
  cost_per_unit: number | null;
  minutes: Record<string, number>;
  blocked_until: Date | null;
  updated_at: Date;
}

/**
 * A reading older than the portal's window (and not blocking now) says nothing any more: all
 * it counted has dropped out of the window since.
 */
function expired(state: MethodState, limits: PortalLimits, now: number): boolean {
  const blocked = state.blocked_until !== null && state.blocked_until.getTime() > now;
  return !blocked && state.updated_at.getTime() + limits.operatingWindow * 1000 * 1.1 < now;
}

/**
 * Forgets what is known of a portal's limits (its request bucket and every webhook's
 * execution time): for a state that is wrong, such as one a test portal left. Returns the rows removed.
 */
export async function clearLimits(pool: pg.Pool, portal: string): Promise<number> {
  const operating = await pool.query(`delete from etl.crm_operating where split_part(portal, '/', 1) = $1`, [portal]);
  const bucket = await pool.query('delete from etl.crm_pacing where portal = $1', [portal]);
  return (operating.rowCount ?? 0) + (bucket.rowCount ?? 0);
}

/**
 * Keeps every process that pushes to one portal within its limits, through PostgreSQL
 * (etl.crm_pacing, etl.crm_operating), as the registry pacing does:
 * - the leaky bucket: each request takes the next slot of etl.crm_slot (a burst of the bucket's
 *   size less a margin, then one per 1/drain seconds); a 503 QUERY_LIMIT_EXCEEDED fills it;
 * - each method's execution time: the portal reports it (time.operating, operating_reset_at);
 *   the charges seen are kept per tenth of the window (the portal's buckets: a minute of
 *   ten), so it is known how much drops out of the window
 *   when, and a request whose expected cost would cross the limit waits until enough has
 *   dropped — the limit is approached, not hit. A 429 blocks that method only, until the
 *   window's oldest minute is gone.
 */
export class PortalPacing {
  readonly stats: PacingStats = { requests: 0, refusedForBucket: 0, refusedForOperating: 0, waitedForBucketMs: 0, waitedForOperatingMs: 0 };

  /** The bucket's key: the portal (it keeps one per client address, whatever the webhook). */
  portal: string;
  /** The execution time's key, portal/user: the portal counts it per webhook and method. */
  webhook: string;

  /**
   * Keyed by the address until the portal is known by its name (identify); `signal` ends every
   * wait at once (StopRequestedError).
   */
  constructor(
    private readonly pool: pg.Pool, address: string, userId: string, readonly limits: PortalLimits,
    private readonly log: (line: string) => void = () => {}, private readonly signal?: AbortSignal,
  ) {
    this.portal = address;
    this.webhook = `${address}/${userId}`;
  }

  /** From now on the portal's name keys its bucket, and name/user its execution time. */
  identify(name: string, userId: string): void {
    this.portal = name;
    this.webhook = `${name}/${userId}`;
  }

  /** When each method's wait for execution time was last said (a line a minute at most). */
  private readonly saidAt = new Map<string, number>();

  /** Waits until a request with these methods (and units of work each: commands, or items for an import) may go. */
  async slot(methods: ReadonlyMap<string, number>): Promise<void> {
    for (;;) {
      const { wait, method, cost } = await this.operatingWait(methods);
      if (wait <= 0) break;
      this.stats.waitedForOperatingMs += wait;
      // said when the wait is long for the window (5 s of a real portal's 10 min), once a minute
      if (wait >= Math.min(5000, this.limits.operatingWindow * 250) && method && Date.now() - (this.saidAt.get(method) ?? 0) >= 60_000) {
        this.saidAt.set(method, Date.now());
        const pace = cost ? `; at ${cost.toFixed(2)} s a unit it runs about ${((this.limits.operatingLimit / this.limits.operatingWindow) / cost).toFixed(2)} units/s` : '';
        this.log(`push: waiting ${Math.ceil(wait / 1000)}s for ${method}: the portal allows ${this.limits.operatingLimit} s of its execution time ` +
          `per ${this.limits.operatingWindow >= 120 ? `${this.limits.operatingWindow / 60} min` : `${this.limits.operatingWindow} s`} and this webhook has nearly used them${pace}`);
      }
      await pause(wait, this.signal);
    }
    const { rows } = await this.pool.query<{ s: number }>('select etl.crm_slot($1, $2, $3) as s',
      [this.portal, Math.max(this.limits.size - BUCKET_MARGIN, 1), this.limits.drain]);
    const wait = rows[0]!.s * 1000;
    if (wait > 0) {
      this.stats.waitedForBucketMs += wait;
      await pause(wait, this.signal);
    }
    this.stats.requests += 1;
  }

  /**
   * How many units of a method (items of an import) one request may carry so its expected
   * execution time stays well inside the window's limit: a request is never larger than half
   * the limit, so the portal's window can take it once the oldest minutes have dropped out.
   */
  async unitsPerRequest(method: string): Promise<number> {
    const cost = await this.costPerUnit(method);
    if (cost === null || cost <= 0) return Infinity;
    return Math.max(1, Math.floor((this.limits.operatingLimit * 0.5) / cost));
  }

  /** The method's execution seconds in the portal's window at its last answer (0 once that reading is older than the window). */
  async operatingNow(method: string): Promise<number> {
    const { rows } = await this.pool.query<MethodState>(
      `select method, operating, reset_at, cost_per_unit, minutes, blocked_until, updated_at from etl.crm_operating where portal = $1 and method = $2`,
      [this.webhook, method]);
    return rows[0] && !expired(rows[0], this.limits, Date.now()) ? rows[0].operating : 0;
  }

  /**
   * Seconds of the portal's execution time a unit of a method costs (an item of an import),
   * as learned from its answers: this webhook's figure, else any webhook's of the portal;
   * null before any answer reported it.
   */
  async costPerUnit(method: string): Promise<number | null> {
    const { rows } = await this.pool.query<{ cost_per_unit: number | null }>(
      `select cost_per_unit from etl.crm_operating where split_part(portal, '/', 1) = $2 and method = $3 and cost_per_unit is not null
       order by portal = $1 desc, updated_at desc limit 1`, [this.webhook, this.portal, method]);
    return rows[0]?.cost_per_unit ?? null;
  }

  /** The portal refused a request for the bucket: it is taken as full for everyone. */
  async bucketFull(): Promise<void> {
    this.stats.refusedForBucket += 1;
    await this.pool.query('select etl.crm_bucket_full($1, $2, $3)', [this.portal, this.limits.size, this.limits.drain]);
  }

  /** The portal refused a method for its execution time: blocked until the window's oldest minute is gone. */
  async methodBlocked(method: string): Promise<void> {
    this.stats.refusedForOperating += 1;
    await this.pool.query(
      `insert into etl.crm_operating as o (portal, method, blocked_until) values ($1, $2, clock_timestamp() + interval '10 seconds')
       on conflict (portal, method) do update set blocked_until =
         greatest(clock_timestamp() + interval '10 seconds', o.reset_at + interval '1 second'), updated_at = now()`,
      [this.webhook, method]);
  }

  /**
   * What an answer said about a method's execution time. `time.operating` is the method's
   * cumulative seconds in the portal's window — every process's and every address's calls of it
   * — so what it grew by since the last reading is charged to the current tenth of the window
   * (to know what drops out when), and never divided by this request's units: the cost of a
   * unit is learned from `ownSeconds`, the time the portal reports for these commands alone
   * (their `processing`, else `duration`).
   */
  async observe(method: string, time: TimeBlock | undefined, units: number, ownSeconds?: number): Promise<void> {
    if (time?.operating === undefined) return;
    const resetAt = time.operating_reset_at ? new Date(time.operating_reset_at * 1000) : null;
    const client = await this.pool.connect();
    try {
      await client.query('begin');
      const { rows } = await client.query<MethodState>(
        `select method, operating, reset_at, cost_per_unit, minutes, blocked_until, updated_at from etl.crm_operating
         where portal = $1 and method = $2 for update`, [this.webhook, method]);
      const before = rows[0] && !expired(rows[0], this.limits, Date.now()) ? rows[0] : undefined;
      // answers of two processes may arrive out of order: an older reading of the same window is no news
      const stale = before && before.reset_at && resetAt && resetAt.getTime() === before.reset_at.getTime() && time.operating <= before.operating;
      const grew = stale ? 0 : before ? time.operating - before.operating : time.operating;
      const minutes = { ...(before?.minutes ?? {}) };
      const now = Date.now() / 1000;
      const bucket = this.limits.operatingWindow / 10;
      if (grew > 0) {
        const start = String(Math.floor(now / bucket) * bucket);
        minutes[start] = (minutes[start] ?? 0) + grew;
      }
      for (const start of Object.keys(minutes)) if (Number(start) + this.limits.operatingWindow + bucket < now) delete minutes[start];
      let cost = rows[0]?.cost_per_unit ?? null;
      if (ownSeconds !== undefined && ownSeconds > 0 && units > 0) cost = cost === null ? ownSeconds / units : cost * 0.7 + (ownSeconds / units) * 0.3;
      await client.query(
        `insert into etl.crm_operating as o (portal, method, operating, reset_at, cost_per_unit, minutes)
         values ($1, $2, $3, $4, $5, $6)
         on conflict (portal, method) do update set operating = case when $7 then o.operating else excluded.operating end,
           reset_at = case when $7 then o.reset_at else excluded.reset_at end,
           cost_per_unit = excluded.cost_per_unit, minutes = excluded.minutes, updated_at = now()`,
        [this.webhook, method, time.operating, resetAt, cost, JSON.stringify(minutes), stale ?? false]);
      await client.query('commit');
    } catch (e) {
      await client.query('rollback').catch(() => {});
      throw e;
    } finally {
      client.release();
    }
  }

  /** Milliseconds to wait before the methods have room for the request's expected cost; the method waited for and its cost a unit. */
  private async operatingWait(methods: ReadonlyMap<string, number>): Promise<{ wait: number; method?: string; cost?: number | null }> {
    const { rows } = await this.pool.query<MethodState>(
      `select method, operating, reset_at, cost_per_unit, minutes, blocked_until, updated_at from etl.crm_operating
       where portal = $1 and method = any($2)`, [this.webhook, [...methods.keys()]]);
    const now = Date.now();
    let longest: { wait: number; method?: string; cost?: number | null } = { wait: 0 };
    for (const state of rows) {
      if (expired(state, this.limits, now)) continue;
      const blocked = state.blocked_until && state.blocked_until.getTime() > now;
      const expected = (methods.get(state.method) ?? 1) * (state.cost_per_unit ?? FIRST_COST);
      const wait = blocked ? state.blocked_until!.getTime() - now : this.roomAt(state, expected, now) - now;
      if (wait > longest.wait) longest = { wait, method: state.method, cost: state.cost_per_unit };
    }
    return longest;
  }

  /**
   * When the method's seconds in the window, less the minutes that have dropped out by then,
   * leave room for `expected` more below the limit (with a margin for what the estimate
   * misses). Minutes the portal counted that this process never saw (another application
   * on the same webhook) drop out at operating_reset_at at the latest.
   */
  private roomAt(state: MethodState, expected: number, now: number): number {
    // a margin for what the estimate misses: 5 s or 2% of a real portal's 480 s, never most of a small limit
    const ceiling = this.limits.operatingLimit - Math.min(Math.max(5, this.limits.operatingLimit * 0.02), this.limits.operatingLimit * 0.25);
    let operating = state.operating;
    if (operating + expected <= ceiling) return now;
    const window = this.limits.operatingWindow * 1000;
    const minutes = Object.entries(state.minutes).map(([m, s]) => [Number(m) * 1000, s] as const).sort((a, b) => a[0] - b[0]);
    for (const [minute, seconds] of minutes) {
      const dropsAt = minute + window + window / 10; // the bucket (a tenth of the window) has surely left the portal's window
      operating -= seconds;
      if (operating + expected <= ceiling) return Math.max(now, dropsAt);
    }
    return Math.max(now, (state.reset_at?.getTime() ?? now) + 1000);
  }
}
