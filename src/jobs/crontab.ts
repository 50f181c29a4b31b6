import { parseCronItems, type CronItem, type ParsedCronItem } from 'graphile-worker';
import type { WorkerConfig } from '../config.js';

const DAY_MS = 86_400_000;

/**
 * The worker's schedule, read in UTC as graphile-worker reads it: each MySQL source's sync
 * (land_mysql, under a job key and queue of its own: two workers never run one sync at once),
 * the registry refresh, and the push sweep. A sync missed while no worker ran is run once when
 * one starts (a day back); a sweep never is.
 */
export function cronItems(w: Pick<WorkerConfig, 'sync' | 'registryRefresh' | 'pushSweep'>): ParsedCronItem[] {
  const items: CronItem[] = [
    ...Object.entries(w.sync).map(([source, match]): CronItem => ({
      task: 'land_mysql', match, identifier: `land_mysql:${source}`, payload: { source },
      options: { backfillPeriod: DAY_MS, queueName: `land_mysql:${source}`, jobKey: `land_mysql:${source}`, jobKeyMode: 'preserve_run_at' },
    })),
    { task: 'registry_refresh', match: w.registryRefresh, identifier: 'registry_refresh', payload: { olderThan: '30 days' }, options: { backfillPeriod: DAY_MS } },
    { task: 'push_sweep', match: w.pushSweep, identifier: 'push_sweep', options: { backfillPeriod: 0, jobKey: 'push_sweep' } },
  ];
  return parseCronItems(items);
}
