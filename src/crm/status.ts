import type pg from 'pg';
import { formatCount } from '../land/progress.js';

interface PortalStatus {
  portal: string;
  addresses: string | null;
  companies_linked: string;
  contacts_linked: string;
  companies_pending: string;
  contacts_pending: string;
  deals_linked: string;
  deals_pending: string;
  deals_deleted: string;
  failed: string;
  unanswered: string;
  companies_deleted: string;
  contacts_deleted: string;
  contacts_waiting: string;
  let_go: string;
  last_run_id: string | null;
  last_started_at: Date | null;
  last_finished_at: Date | null;
  last_stats: { stopped?: boolean; reason?: string; company?: { created: number; failed: number }; contact?: { created: number; failed: number }; deal?: { created: number; failed: number }; unconfirmed?: number } | null;
  unfinished_runs: string;
  last_unfinished_at: Date | null;
}

const time = (d: Date) => d.toISOString().slice(0, 16).replace('T', ' ');
const count = (v: string | number, one: string, many: string) => `${formatCount(Number(v))} ${Number(v) === 1 ? one : many}`;

/**
 * The CRM per portal, for `b2b-etl status`: what is in it and what the next push sends, the
 * last push and any that never finished, failures by reason, what a manager deleted there,
 * writes without an answer and queued pushes (etl.crm_portal_status, etl.crm_failure_summary).
 */
export async function crmStatus(pool: pg.Pool): Promise<string> {
  const { rows: portals } = await pool.query<PortalStatus>('select * from etl.crm_portal_status order by portal');
  if (portals.length === 0) return 'CRM: nothing pushed yet (b2b-etl push, to the portal of BITRIX24_WEBHOOK_URL)';
  const { rows: failures } = await pool.query<{ portal: string; entity: string; reason: string; entities: string; example: string | null }>(
    'select portal, entity, reason, entities, example from etl.crm_failure_summary order by portal, entities desc, reason');
  const queued = await queuedPushes(pool);
  const n = (v: string | number) => formatCount(Number(v));
  const lines: string[] = [];
  for (const p of portals) {
    const others = (p.addresses ?? '').split(', ').filter((a) => a && a !== p.portal);
    lines.push(`CRM portal ${p.portal}${others.length ? ` (also reached at ${others.join(', ')})` : ''}:`);
    lines.push(`  pushed there: ${count(p.companies_linked, 'company', 'companies')}, ${count(p.contacts_linked, 'contact', 'contacts')} and ${count(p.deals_linked, 'deal', 'deals')} (as last pushed: a manager's deletion shows once a push meets it); ` +
      `the next push sends ${count(p.companies_pending, 'company', 'companies')}, ${count(p.contacts_pending, 'contact', 'contacts')} and ${count(p.deals_pending, 'deal', 'deals')} (new or changed)`);
    if (p.last_run_id) {
      const s = p.last_stats ?? {};
      const outcome = !p.last_finished_at ? 'not finished (running now, or killed)'
        : s.stopped ? `stopped${s.reason ? `: ${s.reason}` : ''}`
          : `finished ${time(p.last_finished_at)}: ${n(s.company?.created ?? 0)} companies, ${n(s.contact?.created ?? 0)} contacts and ${n(s.deal?.created ?? 0)} deals created, ${n((s.company?.failed ?? 0) + (s.contact?.failed ?? 0) + (s.deal?.failed ?? 0))} failed`;
      lines.push(`  last push: run ${p.last_run_id} started ${time(p.last_started_at!)}, ${outcome}`);
    }
    if (Number(p.unfinished_runs) > 0 && p.last_unfinished_at) lines.push(`  unfinished push runs: ${n(p.unfinished_runs)}, the last started ${time(p.last_unfinished_at)} (running now, or killed: the next push looks up what they left)`);
    if (Number(p.unanswered) > 0) lines.push(`  writes without an answer: ${n(p.unanswered)} entities; the next push looks them up before sending anything again`);
    const own = failures.filter((f) => f.portal === p.portal);
    if (own.length > 0) {
      lines.push(`  failed: ${n(p.failed)} entities (select * from etl.crm_push_error):`);
      for (const f of own) lines.push(`    ${f.entity.padEnd(7)} ${n(f.entities).padStart(7)}  ${f.reason}${f.example ? `: ${f.example.slice(0, 100)}` : ''}`);
    }
    if (Number(p.companies_deleted) + Number(p.contacts_deleted) + Number(p.deals_deleted) > 0) {
      lines.push(`  deleted in the CRM: ${count(p.companies_deleted, 'company', 'companies')} (${n(p.contacts_waiting)} of their contacts wait), ${count(p.contacts_deleted, 'contact', 'contacts')} and ${count(p.deals_deleted, 'deal', 'deals')}, ` +
        'kept out of it: b2b-etl crm deleted lists them, crm restore brings one back, crm let-go lets it go');
    }
    if (Number(p.let_go) > 0) lines.push(`  let go after a deletion in the CRM: ${n(p.let_go)}`);
    // a job queued before the portal was known names it by its address
    const jobs = [p.portal, ...others].map((key) => queued.get(key)).filter((j) => j !== undefined)
      .reduce<{ count: number; due: Date; failing: number; lastError: string | null } | undefined>((a, j) => (!a ? j : {
        count: a.count + j.count, due: a.due < j.due ? a.due : j.due, failing: a.failing + j.failing, lastError: a.lastError ?? j.lastError,
      }), undefined);
    if (jobs) lines.push(`  queued pushes: ${n(jobs.count)} (next due ${time(jobs.due)}${jobs.failing ? `; ${n(jobs.failing)} failed before: ${jobs.lastError}` : ''}): b2b-etl worker runs them`);
  }
  return lines.join('\n');
}

async function queuedPushes(pool: pg.Pool): Promise<Map<string, { count: number; due: Date; failing: number; lastError: string | null }>> {
  const { rows: [ready] } = await pool.query<{ ok: boolean }>(`select to_regclass('graphile_worker.jobs') is not null as ok`);
  if (!ready?.ok) return new Map();
  const { rows } = await pool.query<{ portal: string; count: number; due: Date; failing: number; last_error: string | null }>(
    // graphile_worker.jobs shows no payload: a crm_push job's key is crm_push:<portal>
    `select substr(key, length('crm_push:') + 1) as portal, count(*)::int as count, min(run_at) as due,
       count(*) filter (where attempts > 0)::int as failing, max(split_part(last_error, E'\\n', 1)) as last_error
     from graphile_worker.jobs where task_identifier = 'crm_push' and key like 'crm_push:%' group by 1`);
  return new Map(rows.map((r) => [r.portal, { count: r.count, due: r.due, failing: r.failing, lastError: r.last_error }]));
}
