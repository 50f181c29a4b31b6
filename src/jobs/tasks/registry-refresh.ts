import type { Task } from 'graphile-worker';
import type pg from 'pg';
import type { JobContext } from '../context.js';

export interface RefreshPayload {
  /** A PostgreSQL interval: answers fetched longer ago are asked again. */
  olderThan: string;
}

export function assertRefreshPayload(payload: unknown): asserts payload is RefreshPayload {
  const p = payload as Partial<RefreshPayload> | null;
  if (typeof p !== 'object' || p === null || typeof p.olderThan !== 'string' || !/^\d+\s*(days?|d|hours?|h)$/.test(p.olderThan.trim())) {
    throw new Error(`registry_refresh: payload must be {"olderThan": "30 days"}, got ${JSON.stringify(payload)}`);
  }
}

/** "30d" / "12h" / "30 days" as a PostgreSQL interval. */
export function toInterval(text: string): string {
  const match = /^(\d+)\s*(days?|d|hours?|h)$/.exec(text.trim());
  if (!match) throw new Error(`'${text}' is not a duration like 30d or 12h`);
  return `${match[1]} ${match[2]!.startsWith('h') ? 'hours' : 'days'}`;
}

/**
 * Queues a forced registry_check for every INN a source still sends whose answer is older
 * than the interval (a rejected company too: a REORGANIZING one may be ACTIVE again), and a
 * normal one for every live canonical company never checked; a check already queued is left
 * as it is (its attempts too). Returns how many were queued.
 */
export async function queueStaleChecks(pool: pg.Pool, olderThan: string): Promise<number> {
  const { rows } = await pool.query<{ n: string }>(
    `select etl.add_registry_check_jobs(array(
       select l.inn from etl.registry_lookup l
       where l.fetched_at < now() - $1::interval
         and exists (select from etl.source_company s where s.inn = l.inn and not s.is_deleted)
     ), true) + etl.add_registry_check_jobs(array(
       select c.inn from canonical.company c
       where not c.is_deleted and not exists (select from etl.registry_lookup l where l.inn = c.inn)
     ), false) as n`,
    [toInterval(olderThan)],
  );
  return Number(rows[0]!.n);
}

/** registry_refresh (daily from the worker's crontab): re-queues stale answers. */
export function registryRefreshTask(ctx: JobContext): Task {
  return async (payload, helpers) => {
    assertRefreshPayload(payload);
    const queued = await queueStaleChecks(ctx.pool, payload.olderThan);
    helpers.logger.info(`registry_refresh: ${queued} checks queued (answers older than ${payload.olderThan})`);
  };
}
