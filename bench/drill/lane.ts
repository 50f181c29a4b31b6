import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { REGISTRY_SNAPSHOT } from '../../src/generate/index.js';
import { useSampleWindow } from '../../src/generate/land-manifest.js';
import { importSnapshot } from '../../src/registry/snapshot.js';
import { startSandbox, type Sandbox } from '../../src/sandbox/index.js';

/** The sandbox portal's schema in each run's warehouse database. */
export const PORTAL_SCHEMA = 'drill_portal';

/** What the two runs share: the sample, store A's MariaDB database, store B's topic. */
export interface SharedInputs {
  sampleDir: string;
  windowStart: string;
  mysqlUrl: string;
  brokers: string[];
  topic: string;
  logFile: string;
  /** Rows per MySQL page, records per file batch, bytes per Kafka fetch, companies per push round: small, so each stage has many. */
  mysqlBatchSize: number;
  fileBatchSize: number;
  kafkaFetchBytes: number;
  pushChunk: number;
}

/** One run of the pipeline: a warehouse, its sandbox portal, and the environment its processes get. */
export interface Lane {
  name: string;
  url: string;
  pool: pg.Pool;
  /** The portal's tables (search_path set to its schema). */
  portal: pg.Pool;
  sandbox: Sandbox;
  groupId: string;
  env: Record<string, string>;
  close(): Promise<void>;
}

/**
 * A run's warehouse (migrated, empty) made ready: the registry snapshot imported, the sample's
 * load window set, a sandbox portal of its own, and a config file naming MariaDB, the topic
 * (under a consumer group of the run's own) and the portal.
 */
export async function openLane(name: string, url: string, shared: SharedInputs): Promise<Lane> {
  const pool = new pg.Pool({ connectionString: url, max: 4, application_name: `b2b-etl drill ${name}` });
  pool.on('error', () => {});
  await importSnapshot(pool, join(shared.sampleDir, REGISTRY_SNAPSHOT));
  await useSampleWindow(pool, shared.windowStart);
  const sandbox = await startSandbox({
    databaseUrl: url, schema: PORTAL_SCHEMA, log: () => {},
    bucket: { size: 50, drainPerSecond: 50 }, operating: { importItemSeconds: 0.001 },
  });
  const portal = new pg.Pool({ connectionString: url, max: 2, options: `-c search_path=${PORTAL_SCHEMA}` });
  portal.on('error', () => {});
  const groupId = `${shared.topic}-${name}`;
  const config = join(tmpdir(), `${shared.topic}-${name}.json`);
  writeFileSync(config, JSON.stringify({
    sources: {
      store_a: { mysql: { textEncoding: 'cp1251', batchSize: shared.mysqlBatchSize } },
      store_b_events: { kafka: { topic: shared.topic, groupId, fetchMaxBytesPerPartition: shared.kafkaFetchBytes } },
    },
    // a killed worker's jobs are taken up by the next one after two seconds of silence
    registry: { provider: 'snapshot', workerStaleSeconds: 2 },
    crm: { caFile: sandbox.certFile, bucketSize: 50, drain: 50, settleSeconds: 0.2, chunk: shared.pushChunk },
    worker: { sync: { store_a: '* * * * *' }, pushSweep: '* * * * *', port: 0, concurrency: 4 },
  }, null, 2));
  return {
    name, url, pool, portal, sandbox, groupId,
    env: {
      DATABASE_URL: url, B2B_ETL_CONFIG: config, MYSQL_URL: shared.mysqlUrl, KAFKA_BROKERS: shared.brokers.join(','),
      BITRIX24_WEBHOOK_URL: sandbox.webhookUrl,
    },
    async close() {
      await portal.end();
      await sandbox.stop();
      await pool.end();
    },
  };
}

/** Queues store A's sync now, as its schedule does at the minute (the same job key and queue). */
export async function queueSync(pool: pg.Pool): Promise<void> {
  await pool.query(
    `select graphile_worker.add_job('land_mysql', json_build_object('source', 'store_a'), queue_name => 'land_mysql:store_a',
       job_key => 'land_mysql:store_a', job_key_mode => 'replace', run_at => now())`);
}

/** The deals the portal waits for (the first few), with their links: what a run that does not settle is stuck on. */
async function waitingFor(pool: pg.Pool): Promise<string> {
  const { rows } = await pool.query<{ line: string }>(
    `select format('deal %s (%s:%s, company %s): link %s, error %s, pushed %s', o.deal_id, o.source, o.source_key, o.company_id,
              coalesce(l.state, 'none'), coalesce(l.last_error, 'none'),
              case when l.pushed_hash is null then 'never' when l.pushed_hash = o.out_hash then 'as is' else 'another version' end) as line
     from etl.crm_deal_out o
     left join etl.crm_link l on l.entity = 'deal' and l.canonical_id = o.deal_id
     where (l.canonical_id is null or (l.state = 'failed' and l.bitrix_id is null) or (l.state = 'linked' and l.pushed_hash is distinct from o.out_hash))
       and exists (select from etl.crm_link cl where cl.entity = 'company' and cl.canonical_id = o.company_id and cl.state = 'linked')
     order by o.deal_id limit 5`);
  return rows.length === 0 ? '' : `; deals waiting: ${rows.map((r) => r.line).join('; ')}`;
}

export interface Quiet {
  /** Jobs that failed every attempt, by task (work nobody will do). */
  failedJobs: Record<string, number>;
  /**
   * Jobs whose key a newer job took while they ran (graphile-worker then spends their attempts,
   * so they are never run again) and whose worker was killed: left behind with no error, by task.
   */
  supersededJobs: Record<string, number>;
}

/**
 * Waits until the lane has nothing left to do: every event landed, no job due or running (one
 * whose key a newer job took while it ran is running too, with its attempts spent; a
 * push a push left for later is made due now, as `push` would run it), the portal lacking
 * nothing the warehouse has (etl.crm_portal_status; the schedule's push sweep queues what a
 * push after a transform did not), twice in a row a second apart.
 */
export async function quiet(lane: Lane, produced: Map<number, bigint>, topic: string, seconds: number, alive: () => void): Promise<Quiet> {
  const deadline = Date.now() + seconds * 1000;
  let calm = 0;
  let said = '';
  while (Date.now() < deadline) {
    alive();
    await lane.pool.query(
      `select graphile_worker.reschedule_jobs(array(select id from graphile_worker.jobs
         where task_identifier = 'crm_push' and locked_at is null and attempts = 0 and run_at > now()), run_at => now())`);
    const { rows: [state] } = await lane.pool.query<{ jobs: string; waiting: string; offsets: Array<{ partition: number; next: string }> }>(
      `select (select string_agg(task_identifier || case when locked_at is not null then ' (running)' else '' end, ', ')
               from graphile_worker.jobs where (locked_at is not null or attempts < max_attempts and (run_at <= now()
                 or task_identifier in ('transform', 'registry_check', 'crm_push')))) as jobs,
              (select coalesce(sum(companies_pending + contacts_pending + deals_pending + unanswered), 0) from etl.crm_portal_status) as waiting,
              (select coalesce(json_agg(json_build_object('partition', partition, 'next', next_offset)), '[]')
               from etl.kafka_offset where group_id = $1 and topic = $2) as offsets`, [lane.groupId, topic]);
    const landed = new Map(state!.offsets.map((o) => [o.partition, BigInt(o.next)]));
    const behind = [...produced].filter(([p, end]) => (landed.get(p) ?? 0n) < end).length;
    said = `jobs: ${state!.jobs ?? 'none'}; portal waiting for ${state!.waiting}; ${behind} partitions not landed to the end`;
    calm = state!.jobs === null && Number(state!.waiting) === 0 && behind === 0 ? calm + 1 : 0;
    if (calm >= 3) break;
    await sleep(1000);
  }
  if (calm < 3) throw new Error(`the ${lane.name} run did not settle within ${seconds}s: ${said}${await waitingFor(lane.pool)}`);
  const { rows } = await lane.pool.query<{ task_identifier: string; superseded: boolean; n: number }>(
    `select task_identifier, key is null and last_error is null as superseded, count(*)::int as n
     from graphile_worker.jobs where attempts >= max_attempts and locked_at is null group by 1, 2`);
  const tally = (superseded: boolean) => Object.fromEntries(rows.filter((r) => r.superseded === superseded).map((r) => [r.task_identifier, r.n]));
  return { failedJobs: tally(false), supersededJobs: tally(true) };
}
