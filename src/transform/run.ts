import type pg from 'pg';
import { queuePush } from '../crm/queue.js';
import { fillPhoneDictionary } from './phones.js';

export interface TransformStats {
  runId: number;
  phonesParsed: number;
  /** The transform itself: phones parsed, then the procedure. */
  seconds: number;
  /** VACUUM (ANALYZE) of the tables a big run rewrote, after its commit. */
  vacuumSeconds: number;
  stats: Record<string, number>;
  /** Why the statistics refresh beside the run failed (the run itself committed); null when it did not. */
  statisticsError: string | null;
}

/** Phones of pending batches into the dictionary, then `call etl.transform(...)`. */
export async function runTransform(
  pool: pg.Pool,
  options: { full?: boolean; onNotice?: (text: string) => void; afterDictionary?: () => Promise<void> } = {},
): Promise<TransformStats> {
  const started = Date.now();
  const full = options.full ?? false;
  // Tables that changed by more than autovacuum's threshold since their last analyze (a live
  // feed into a growing base) are analyzed now, not a minute later, on a connection of their
  // own beside the run. This run plans on the statistics as they were; a feed's runs follow
  // each other, so the next one plans on what this analyze found, and the feed's transform
  // cycle does not wait for it before its work. The run returns once both are done. Its own
  // transaction: a failed run cannot take back the statistics while the counters that say they
  // are fresh stay reset. A refresh that fails does not undo a run that committed: it is said.
  const refreshing = pool.query('select etl.refresh_statistics()').then(
    () => null,
    (e: unknown) => `the statistics refresh beside the run failed: ${e instanceof Error ? e.message : String(e)}`,
  );
  let result: Omit<TransformStats, 'statisticsError'>;
  let statisticsError: string | null;
  try {
    result = await transformAfterPhones(pool, options, started, full);
  } finally {
    statisticsError = await refreshing;
  }
  if (statisticsError) options.onNotice?.(`transform: ${statisticsError}`);
  return { ...result, statisticsError };
}

async function transformAfterPhones(
  pool: pg.Pool,
  options: { onNotice?: (text: string) => void; afterDictionary?: () => Promise<void> },
  started: number,
  full: boolean,
): Promise<Omit<TransformStats, 'statisticsError'>> {
  // The transform takes only the batches whose phones were parsed here: a batch landed in
  // between waits for the next run instead of having its phones taken for invalid.
  const fill = await fillPhoneDictionary(pool, { all: full });
  const phonesParsed = fill.parsed;
  await options.afterDictionary?.(); // tests: a loader committing right now
  const client = await pool.connect();
  const notice = (msg: { message?: string }) => options.onNotice?.(msg.message ?? '');
  client.on('notice', notice);
  try {
    const called = await client.query<{ run_id: string }>('call etl.transform(full => $1, only_batches => $2, run_id => null)', [full, fill.batches]);
    // the run this call made, not the newest one: another process may have run one since
    const { rows } = await client.query<{ run_id: string; stats: Record<string, number>; big_run: boolean }>(
      `select run_id, stats, (stats ->> 'big_run')::boolean as big_run from etl.run where run_id = $1`,
      [called.rows[0]!.run_id],
    );
    const stats = rows[0]!.stats;
    const seconds = (Date.now() - started) / 1000;
    const vacuumStarted = Date.now();
    if (rows[0]!.big_run) {
      // A big run rewrote much of these tables: without a vacuum their index lookups visit the
      // heap for every row (no visibility map), which the small runs after it would pay for.
      await client.query(`vacuum (analyze) ${REWRITTEN_TABLES.join(', ')}`);
    }
    // the push follows a transform that wrote canonical rows (when a portal is configured)
    await queuePush(pool, { companies: Number(stats.companies_written ?? 0), contacts: Number(stats.contacts_written ?? 0), deals: Number(stats.deals_written ?? 0) });
    return { runId: Number(rows[0]!.run_id), phonesParsed, seconds, vacuumSeconds: (Date.now() - vacuumStarted) / 1000, stats };
  } finally {
    client.off('notice', notice);
    client.release();
  }
}

const REWRITTEN_TABLES = [
  'staging.record', 'etl.phone_dictionary', 'etl.source_company', 'etl.source_contact', 'etl.rejection',
  'canonical.company', 'canonical.contact', 'canonical.company_source', 'canonical.contact_source',
  'etl.source_order', 'canonical.deal', 'canonical.deal_item',
];
