import type pg from 'pg';
import { formatCount } from '../land/progress.js';

/**
 * Landed → valid → canonical, per entity, and open rejections by reason: the run at a glance,
 * read from the views analysts query (etl.funnel, etl.rejection_summary).
 */
export async function funnel(pool: pg.Pool): Promise<string> {
  const { rows: steps } = await pool.query<{ entity: string; stage: string; records: string }>(
    'select entity, stage, records from etl.funnel order by entity, step');
  const { rows: reasons } = await pool.query<{ entity: string; severity: string; reason: string; records: string }>(`
    select entity, severity, reason, records
    from etl.rejection_summary
    order by severity, entity, records desc, reason`);
  const count = new Map(steps.map((s) => [`${s.entity}.${s.stage}`, formatCount(Number(s.records))]));
  const n = (entity: string, stage: string) => count.get(`${entity}.${stage}`) ?? '?';
  const lines = [
    `companies: ${n('company', 'versions_landed')} versions landed → ${n('company', 'source_records')} source records → ` +
      `${n('company', 'valid_inn')} with a valid INN → ${n('company', 'accepted')} accepted → ${n('company', 'canonical')} canonical companies (one per INN) → ` +
      `${n('company', 'ready')} ready for the CRM (registry ACTIVE; ${n('company', 'not_checked')} not checked yet)`,
    `contacts:  ${n('contact', 'versions_landed')} versions landed → ${n('contact', 'source_records')} source records → ` +
      `${n('contact', 'accepted')} accepted → ${n('contact', 'canonical')} canonical contacts (merged by phone or e-mail)`,
    `orders:    ${n('order', 'versions_landed')} versions landed → ${n('order', 'source_records')} source records → ` +
      `${n('order', 'accepted')} accepted → ${n('order', 'canonical')} deals → ${n('order', 'ready')} of companies ready for the CRM`,
    'open rejections:',
    ...reasons.map((r) => `  ${r.severity.padEnd(7)} ${r.entity.padEnd(7)} ${r.reason.padEnd(28)} ${formatCount(Number(r.records)).padStart(9)}`),
  ];
  return lines.join('\n');
}
