import type { Task } from 'graphile-worker';
import { badRecordPolicy, loadConfig, mysqlSource, mysqlUrl } from '../../config.js';
import { landMysql } from '../../land/mysql.js';
import type { JobContext } from '../context.js';

export interface LandMysqlPayload {
  /** The MySQL source to sync from its watermark (store_a, or one with a mysql section). */
  source: string;
}

export function assertLandMysqlPayload(payload: unknown): asserts payload is LandMysqlPayload {
  const p = payload as Partial<LandMysqlPayload> | null;
  if (typeof p !== 'object' || p === null || typeof p.source !== 'string' || p.source === '') {
    throw new Error(`land_mysql: payload must be {"source": "store_a"}, got ${JSON.stringify(payload)}`);
  }
}

/**
 * land_mysql: a MySQL source's scheduled sync from its watermark (the worker's crontab, one
 * job key and queue per source, so two workers never run one sync at once). Its landings
 * queue the transform.
 */
export function landMysqlTask(ctx: JobContext): Task {
  return async (payload, helpers) => {
    assertLandMysqlPayload(payload);
    const config = loadConfig();
    const result = await landMysql(ctx.pool, {
      url: mysqlUrl(), source: payload.source, config: mysqlSource(config, payload.source), quiet: true,
      badRecords: badRecordPolicy(config, payload.source, 'mysql'),
      // the worker stopping: the pages in flight land with their watermark, the rest waits for the next sync
      signal: helpers.abortSignal,
      log: (line) => helpers.logger.info(line),
    });
    const landed = result.tables.reduce((n, t) => n + t.landed, 0);
    helpers.logger.info(`land_mysql ${payload.source}: ${result.tables.map((t) => `${t.table} ${t.rows} rows read, ${t.landed} new versions`).join('; ')}` +
      `${landed > 0 ? ' (the transform is queued)' : ''}`);
  };
}
