import type pg from 'pg';

export interface FunnelRow { source: string; step: number; stage: string; records: number }
export interface RejectionRow { entity: string; severity: string; reason: string; source: string; records: number }
export interface TrendRow { run_id: number; kind: string; finished_at: Date; entity: string; severity: string; reason: string; open: number }
export interface ExampleRow { entity: string; severity: string; reason: string; subject: string; value: string | null; detail: string; why_command: string }
export interface MergeRow { entity: string; rule: string; merges: number }
export interface RegistryRow { status: string; inns: number }
export interface CrmRow { portal: string; entity: string; outcome: string; records: number }
export interface RevenueRow { year: number; store: string; currency: string; revenue: number; won_deals: number }

/** Everything the data-quality report shows, read from the views of sql/audit/report.sql. */
export interface ReportData {
  funnel: FunnelRow[];
  rejections: RejectionRow[];
  /** Open rejections after each of the last `TREND_RUNS` transform runs, summed over sources. */
  trend: TrendRow[];
  examples: ExampleRow[];
  merges: MergeRow[];
  registry: RegistryRow[];
  crm: CrmRow[];
  /** Won revenue per year, store and currency (analytics.revenue_by_company_year summed over companies). */
  revenue: RevenueRow[];
  batchesLanded: number;
  lastRun: { run_id: number; kind: string; finished_at: Date } | null;
}

/** How many transform runs the trend shows: a worker runs one per landing, thousands in a week. */
export const TREND_RUNS = 30;

/** PostgreSQL's counts (bigint) arrive as text: as numbers. */
const counted = <T extends object>(rows: T[], ...fields: (keyof T)[]): T[] =>
  rows.map((row) => ({ ...row, ...Object.fromEntries(fields.map((f) => [f, Number(row[f])])) }));

export async function reportData(pool: pg.Pool): Promise<ReportData> {
  const [funnel, rejections, trend, examples, merges, registry, crm, revenue, landed] = await Promise.all([
    pool.query<FunnelRow>('select source, step, stage, records from etl.source_funnel order by source, step').then((r) => counted(r.rows, 'records')),
    pool.query<RejectionRow>('select entity, severity, reason, source, records from etl.rejection_by_source order by entity, severity, reason, source')
      .then((r) => counted(r.rows, 'records')),
    pool.query<TrendRow>(
      `select run_id, kind, finished_at, entity, severity, reason, sum(open) as open
       from etl.rejection_trend
       where run_id in (select run_id from etl.run where finished_at is not null order by run_id desc limit $1)
       group by run_id, kind, finished_at, entity, severity, reason
       order by run_id, entity, severity, reason`, [TREND_RUNS]).then((r) => counted(r.rows, 'run_id', 'open')),
    pool.query<ExampleRow>(
      'select entity, severity, reason, subject, value, detail, why_command from etl.rejection_example order by entity, severity, reason, rank')
      .then((r) => r.rows),
    pool.query<MergeRow>('select entity, rule, merges from etl.merge_summary order by entity, merges desc, rule').then((r) => counted(r.rows, 'merges')),
    pool.query<RegistryRow>('select status, inns from etl.registry_status_summary order by inns desc, status').then((r) => counted(r.rows, 'inns')),
    pool.query<CrmRow>('select portal, entity, outcome, records from etl.crm_outcome order by portal, entity, records desc, outcome')
      .then((r) => counted(r.rows, 'records')),
    pool.query<RevenueRow>(
      `select year, store, currency, sum(revenue) as revenue, sum(won_deals) as won_deals from analytics.revenue_by_company_year
       group by year, store, currency having sum(won_deals) > 0 order by year, store, currency`).then((r) => counted(r.rows, 'year', 'revenue', 'won_deals')),
    pool.query<{ batches: string; run_id: string | null; kind: string | null; finished_at: Date | null }>(
      `select (select count(*) from staging.batch) as batches, r.run_id, r.kind, r.finished_at
       from (select) one
       left join lateral (select run_id, kind, finished_at from etl.run where finished_at is not null order by run_id desc limit 1) r on true`)
      .then((r) => r.rows[0]!),
  ]);
  return {
    funnel, rejections, trend, examples, merges, registry, crm, revenue,
    batchesLanded: Number(landed.batches),
    lastRun: landed.run_id ? { run_id: Number(landed.run_id), kind: landed.kind!, finished_at: landed.finished_at! } : null,
  };
}
