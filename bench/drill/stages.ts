import type pg from 'pg';

/**
 * The stages a kill can land in, read from what the worker is doing at that moment: the
 * graphile-worker jobs its process has locked (by task), a Kafka batch's transaction (a lock
 * on the partition's offset row), and the sandbox portal running a request of its.
 */
export const STAGES = ['mysql page', 'kafka batch', 'transform', 'registry check', 'push batch'] as const;
export type Stage = (typeof STAGES)[number];

export interface StageSnapshot {
  /** Stages in progress in the worker process. */
  stages: Stage[];
  /** A crm_push job of the worker's is running but no request of it is at the portal (between batches). */
  pushBetweenBatches: boolean;
}

const TASK_STAGES: Record<string, Stage> = { land_mysql: 'mysql page', transform: 'transform', registry_check: 'registry check' };

/**
 * What the worker process `pid` is doing in the warehouse `pool` serves: its locked jobs (the
 * graphile-worker pools a worker records in etl.worker_process), whether a Kafka batch is
 * between its first statement and its commit (only a landing locks rows of etl.kafka_offset),
 * and whether the portal (a sandbox whose tables live in the same database) is serving a
 * request other than recording the call log.
 */
export async function stageSnapshot(pool: pg.Pool, pid: number): Promise<StageSnapshot> {
  const { rows } = await pool.query<{ tasks: string[]; kafka: boolean; portal: boolean }>(
    `with mine as (select unnest(worker_ids) as id from etl.worker_process where pid = $1)
     select coalesce((select array_agg(distinct j.task_identifier) from graphile_worker.jobs j
                      where j.locked_by in (select id from mine)), '{}') as tasks,
            exists (select from pg_locks l join pg_stat_activity a on a.pid = l.pid
                    where l.relation = 'etl.kafka_offset'::regclass and l.mode in ('RowExclusiveLock', 'RowShareLock')
                      and a.datname = current_database() and a.application_name = 'b2b-etl') as kafka,
            exists (select from pg_stat_activity a
                    where a.datname = current_database() and a.application_name = 'b2b-etl sandbox' and a.xact_start is not null
                      and a.query not ilike 'insert into call%') as portal`,
    [pid]);
  const row = rows[0]!;
  const stages = new Set<Stage>();
  for (const task of row.tasks) if (TASK_STAGES[task]) stages.add(TASK_STAGES[task]!);
  if (row.kafka) stages.add('kafka batch');
  const pushing = row.tasks.includes('crm_push');
  if (pushing && row.portal) stages.add('push batch');
  return { stages: STAGES.filter((s) => stages.has(s)), pushBetweenBatches: pushing && !row.portal };
}

/** Work a stage still has in the warehouse: queued or running jobs of its task, Kafka messages not landed. */
export async function pendingWork(pool: pg.Pool, produced: Map<number, bigint>, groupId: string, topic: string): Promise<Set<Stage>> {
  const { rows } = await pool.query<{ task_identifier: string }>(
    `select distinct task_identifier from graphile_worker.jobs where attempts < max_attempts and run_at < now() + interval '5 seconds'`);
  const pending = new Set<Stage>();
  for (const { task_identifier: task } of rows) {
    if (TASK_STAGES[task]) pending.add(TASK_STAGES[task]!);
    if (task === 'crm_push') pending.add('push batch');
  }
  const { rows: offsets } = await pool.query<{ partition: number; next_offset: string }>(
    'select partition, next_offset from etl.kafka_offset where group_id = $1 and topic = $2', [groupId, topic]);
  const landed = new Map(offsets.map((o) => [o.partition, BigInt(o.next_offset)]));
  for (const [partition, end] of produced) if ((landed.get(partition) ?? 0n) < end) pending.add('kafka batch');
  return pending;
}
