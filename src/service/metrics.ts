import type pg from 'pg';
import { Gauge, Registry } from 'prom-client';

/** What a worker's consumers say of their partitions: how far each is behind its topic's end. */
export type LagSource = () => Promise<Array<{ topic: string; partition: number; group: string; lag: number }>>;

/**
 * The worker's /metrics, in Prometheus' text format (prom-client): read from PostgreSQL at each
 * scrape, so every worker of one database says the same of the pipeline (records landed per
 * source, transform runs and seconds, registry answers and pauses, CRM commands, limiter waits
 * and refusals, jobs queued and failed), and from this process's consumers their Kafka lag.
 * Totals only ever grow.
 */
export function pipelineMetrics(pool: pg.Pool, lag: LagSource): Registry {
  const registry = new Registry();
  const gauge = (name: string, help: string, labelNames: string[], collect: (g: Gauge) => Promise<void>) =>
    new Gauge({ name, help, labelNames, registers: [registry], async collect() { this.reset(); await collect(this); } });

  gauge('b2b_etl_records_landed', 'record versions landed in staging, per source and entity (a total)', ['source', 'entity'], async (g) => {
    const { rows } = await pool.query<{ source: string; entity: string; n: string }>(
      'select source, entity, sum(rows_landed) as n from staging.batch group by 1, 2');
    for (const r of rows) g.set({ source: r.source, entity: r.entity }, Number(r.n));
  });
  gauge('b2b_etl_batches_waiting', 'landed batches the transform has not taken yet', [], async (g) => {
    g.set(Number((await pool.query<{ n: string }>('select count(*) as n from staging.batch where transformed_at is null')).rows[0]!.n));
  });
  gauge('b2b_etl_kafka_lag', 'messages of a partition not landed yet, per topic, partition and group (this worker\'s consumers)', ['topic', 'partition', 'group'], async (g) => {
    for (const p of await lag()) g.set({ topic: p.topic, partition: String(p.partition), group: p.group }, p.lag);
  });
  gauge('b2b_etl_transform_runs', 'transform runs finished, incremental and full (a total)', ['kind'], async (g) => {
    const { rows } = await pool.query<{ kind: string; n: string }>('select kind, count(*) as n from etl.run where finished_at is not null group by 1');
    for (const r of rows) g.set({ kind: r.kind }, Number(r.n));
  });
  gauge('b2b_etl_transform_seconds', 'seconds the finished transform runs took (a total)', ['kind'], async (g) => {
    const { rows } = await pool.query<{ kind: string; s: number }>(
      'select kind, sum(extract(epoch from finished_at - started_at))::float8 as s from etl.run where finished_at is not null group by 1');
    for (const r of rows) g.set({ kind: r.kind }, r.s);
  });
  gauge('b2b_etl_registry_answers', 'registry answers kept, per provider and status (a total of INNs asked)', ['provider', 'status'], async (g) => {
    const { rows } = await pool.query<{ provider: string; status: string | null; n: string }>('select provider, status, count(*) as n from etl.registry_lookup group by 1, 2');
    for (const r of rows) g.set({ provider: r.provider, status: r.status ?? 'NOT_FOUND' }, Number(r.n));
  });
  gauge('b2b_etl_registry_paused', '1 while a registry provider is paused (a spent quota, a refused token)', ['provider', 'kind'], async (g) => {
    const { rows } = await pool.query<{ provider: string; kind: string | null }>('select provider, pause_kind as kind from etl.registry_pacing where paused_until > now()');
    for (const r of rows) g.set({ provider: r.provider, kind: r.kind ?? 'quota' }, 1);
  });
  const crm = async (field: string, g: Gauge) => {
    const { rows } = await pool.query<{ portal: string; n: number }>(
      `select portal, coalesce(sum((${field})::float8), 0) as n from etl.crm_push_run where not dry_run group by 1`);
    for (const r of rows) g.set({ portal: r.portal }, r.n);
  };
  gauge('b2b_etl_crm_commands', 'commands sent to a portal in batches (a total)', ['portal'], (g) => crm(`stats ->> 'commands'`, g));
  gauge('b2b_etl_crm_limiter_wait_seconds', 'seconds pushes waited for a portal\'s request bucket and execution-time limit (a total)', ['portal'], (g) =>
    crm(`(coalesce((stats -> 'pacing' ->> 'waitedForBucketMs')::float8, 0) + coalesce((stats -> 'pacing' ->> 'waitedForOperatingMs')::float8, 0)) / 1000`, g));
  gauge('b2b_etl_crm_refusals', 'requests a portal refused for its limits: 503 QUERY_LIMIT_EXCEEDED and 429 OPERATION_TIME_LIMIT (a total)', ['portal'], (g) =>
    crm(`coalesce((stats -> 'pacing' ->> 'refusedForBucket')::float8, 0) + coalesce((stats -> 'pacing' ->> 'refusedForOperating')::float8, 0)`, g));
  gauge('b2b_etl_jobs_queued', 'jobs waiting or running, per task', ['task'], async (g) => {
    const { rows } = await pool.query<{ task: string; n: string }>(
      `select task_identifier as task, count(*) as n from graphile_worker.jobs where attempts < max_attempts group by 1`);
    for (const r of rows) g.set({ task: r.task }, Number(r.n));
  });
  gauge('b2b_etl_jobs_failed', 'jobs that failed every attempt, per task: a person should look (graphile_worker.jobs last_error)', ['task'], async (g) => {
    const { rows } = await pool.query<{ task: string; n: string }>(
      `select task_identifier as task, count(*) as n from graphile_worker.jobs where attempts >= max_attempts group by 1`);
    for (const r of rows) g.set({ task: r.task }, Number(r.n));
  });
  return registry;
}
