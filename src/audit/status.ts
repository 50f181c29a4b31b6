import type pg from 'pg';
import type { Config } from '../config.js';
import { crmStatus } from '../crm/status.js';
import { formatCount } from '../land/progress.js';
import { checkQueue, currentPauses, describePause, type Pause } from '../registry/pause.js';
import { funnel } from './funnel.js';

interface SourceRow {
  source: string;
  last_landed_at: Date | null;
  age_seconds: number | null;
  records: number;
  batches: number;
  mysql: Array<{ entity: string; table: string; watermark: string; last_id: number; updated: string }>;
  kafka: Array<{ group: string; topic: string; partition: number; next_offset: number; updated: string }>;
  files: Array<{ entity: string; file: string; records: number | null; started: string; completed: string | null }>;
}

interface JobRow { task: string; queued: number; running: number; failed: number; last_error: string | null }
interface RejectionRow { entity: string; severity: string; reason: string; open: number; new_since_previous: number; resolved_since_previous: number }
interface StoppedPush { portal: string; run_id: string; started_at: Date; reason: string }

/** Everything `status` says, as data (`status --json`). */
export interface PipelineStatus {
  /** What a person should act on, a sentence each; none: healthy. */
  needs: string[];
  sources: SourceRow[];
  jobs: JobRow[];
  registry: { waiting: number; failing: number; givenUp: number; lastError: string | null; pauses: Pause[] };
  crm: Array<Record<string, unknown>>;
  funnel: Array<{ entity: string; stage: string; records: number }>;
  rejections: RejectionRow[];
  lastTransform: { run: string; kind: string; finishedAt: Date } | null;
  batchesWaiting: number;
}

/** "26h", "90m", "2d" as seconds. */
export function durationSeconds(text: string): number {
  const match = /^(\d+)\s*(s|m|h|d)$/.exec(text.trim());
  if (!match) throw new Error(`'${text}' is not a duration like 90m, 26h or 2d`);
  return Number(match[1]) * { s: 1, m: 60, h: 3600, d: 86400 }[match[2] as 's' | 'm' | 'h' | 'd'];
}

/**
 * The pipeline's health from PostgreSQL (etl.source_status, etl.job_status, the registry, the
 * CRM views, the funnel, etl.rejection_change), and what needs a person: a job that failed every
 * attempt, a paused registry provider, a push that stopped for a reason, a feed that landed
 * nothing for longer than `status.maxFeedAge` says.
 */
export async function pipelineStatus(pool: pg.Pool, config: Config): Promise<PipelineStatus> {
  const [sources, jobs, rejections, funnelRows, crm, last, queue, pauses, stopped] = await Promise.all([
    pool.query<SourceRow>('select * from etl.source_status order by source').then((r) => r.rows),
    pool.query<JobRow>('select * from etl.job_status order by task').then((r) => r.rows),
    pool.query<RejectionRow>('select * from etl.rejection_change order by severity, entity, open desc, reason').then((r) => r.rows),
    pool.query<{ entity: string; stage: string; records: string }>('select entity, stage, records from etl.funnel order by entity, step').then((r) => r.rows),
    pool.query<Record<string, unknown>>('select * from etl.crm_portal_status order by portal').then((r) => r.rows),
    pool.query<{ run: string; kind: string; finished_at: Date; waiting: string }>(
      `select (select run_id::text from etl.run where finished_at is not null order by run_id desc limit 1) as run,
              (select kind from etl.run where finished_at is not null order by run_id desc limit 1) as kind,
              (select finished_at from etl.run where finished_at is not null order by run_id desc limit 1) as finished_at,
              (select count(*) from staging.batch where transformed_at is null) as waiting`).then((r) => r.rows[0]!),
    checkQueue(pool),
    currentPauses(pool),
    pool.query<StoppedPush>(
      `select distinct on (portal) portal, run_id::text, started_at, stats ->> 'reason' as reason from etl.crm_push_run
       where not dry_run and finished_at is not null order by portal, run_id desc`).then((r) => r.rows.filter((row) => row.reason)),
  ]);
  const needs: string[] = [];
  for (const job of jobs) {
    if (job.failed > 0) needs.push(`${job.failed} ${job.task} job(s) failed every attempt${job.last_error ? `: ${job.last_error}` : ''} (graphile_worker.jobs)`);
  }
  for (const pause of pauses) needs.push(describePause(pause));
  for (const push of stopped) needs.push(`the last push to portal ${push.portal} (run ${push.run_id}) stopped: ${push.reason}`);
  for (const [source, age] of Object.entries(config.status?.maxFeedAge ?? {})) {
    const row = sources.find((s) => s.source === source);
    const seconds = row?.age_seconds ?? Infinity;
    if (seconds > durationSeconds(age)) {
      needs.push(`source ${source} landed nothing ${row?.last_landed_at ? `since ${row.last_landed_at.toISOString()}` : 'yet'}, longer than status.maxFeedAge ${age}`);
    }
  }
  return {
    needs, sources, jobs, registry: { ...queue, pauses }, crm,
    funnel: funnelRows.map((r) => ({ entity: r.entity, stage: r.stage, records: Number(r.records) })),
    rejections, lastTransform: last.run ? { run: last.run, kind: last.kind, finishedAt: last.finished_at } : null,
    batchesWaiting: Number(last.waiting),
  };
}

const at = (d: Date | string | null) => (d ? new Date(d).toISOString().slice(0, 16).replace('T', ' ') : 'never');
const age = (seconds: number) => (seconds < 120 ? `${seconds}s` : seconds < 7200 ? `${Math.round(seconds / 60)}m` : seconds < 172800 ? `${Math.round(seconds / 3600)}h` : `${Math.round(seconds / 86400)}d`);

/** The status on one screen: what needs a person first, then the sources, jobs, funnel, rejections, registry and CRM. */
export async function statusText(pool: pg.Pool, s: PipelineStatus): Promise<string> {
  const n = (v: string | number) => formatCount(Number(v));
  const lines: string[] = [];
  lines.push(s.needs.length === 0 ? 'healthy: nothing needs a person' : `needs a person (${s.needs.length}):`);
  for (const need of s.needs) lines.push(`  - ${need}`);
  lines.push('sources:');
  if (s.sources.length === 0) lines.push('  nothing landed yet');
  for (const src of s.sources) {
    lines.push(`  ${src.source}: last landing ${at(src.last_landed_at)}${src.age_seconds !== null ? ` (${age(Number(src.age_seconds))} ago)` : ''}, ` +
      `${n(src.records)} versions in ${n(src.batches)} batches`);
    for (const m of src.mysql) lines.push(`    mysql ${m.table}: watermark ${String(m.watermark).slice(0, 19)} id ${m.last_id}, synced ${at(m.updated)}`);
    for (const k of src.kafka) lines.push(`    kafka ${k.topic}/${k.partition} (group ${k.group}): next offset ${n(k.next_offset)}, landed ${at(k.updated)}`);
    for (const f of src.files.slice(0, 5)) {
      lines.push(`    file ${f.file} (${f.entity}): ${f.completed ? `loaded ${at(f.completed)}, ${n(f.records ?? 0)} records` : `not completed since ${at(f.started)} (in progress, or stopped: land file --resume goes on)`}`);
    }
  }
  lines.push(`jobs:${s.jobs.length === 0 ? ' none queued' : ''}`);
  for (const j of s.jobs) {
    lines.push(`  ${j.task.padEnd(16)} ${n(j.queued).padStart(7)} queued ${n(j.running).padStart(4)} running ${n(j.failed).padStart(5)} failed${j.last_error ? `; last error: ${j.last_error.slice(0, 120)}` : ''}`);
  }
  lines.push(await funnel(pool));
  const changed = s.rejections.filter((r) => Number(r.new_since_previous) + Number(r.resolved_since_previous) > 0);
  if (changed.length > 0) {
    lines.push('since the transform before the last:');
    for (const r of changed) lines.push(`  ${r.severity.padEnd(7)} ${r.entity.padEnd(7)} ${r.reason.padEnd(28)} +${n(r.new_since_previous)} new, -${n(r.resolved_since_previous)} resolved`);
  }
  lines.push(`batches waiting for the transform: ${n(s.batchesWaiting)}; last transform: ${s.lastTransform ? `${s.lastTransform.kind} ${s.lastTransform.run} at ${at(s.lastTransform.finishedAt)}` : 'never'}`);
  lines.push(...s.registry.pauses.map(describePause));
  lines.push(`registry checks: ${n(s.registry.waiting)} queued (${n(s.registry.failing)} failed at least once), ${n(s.registry.givenUp)} given up` +
    (s.registry.lastError ? `; last error: ${s.registry.lastError.split('\n')[0]}` : ''));
  lines.push(await crmStatus(pool));
  return lines.join('\n');
}
