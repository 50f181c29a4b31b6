import type pg from 'pg';
import { formatCount } from '../land/progress.js';

/** Landed → valid → canonical, per entity, and open rejections by reason: the run at a glance. */
export async function funnel(pool: pg.Pool): Promise<string> {
  const { rows: [f] } = await pool.query<Record<string, string>>(`
    select
      (select count(*) from staging.record where entity = 'company') as company_versions,
      (select count(*) from etl.source_company) as company_records,
      (select count(*) from etl.source_company where inn is not null and etl.inn_is_valid(inn)) as valid_inn,
      (select count(*) from etl.source_company where is_accepted) as company_accepted,
      (select count(*) from canonical.company where not is_deleted) as companies,
      (select count(*) from canonical.company where not is_deleted and is_ready) as companies_ready,
      (select count(*) from canonical.company where not is_deleted and registry_status is null) as companies_unchecked,
      (select count(*) from staging.record where entity = 'contact') as contact_versions,
      (select count(*) from etl.source_contact) as contact_records,
      (select count(*) from etl.source_contact where is_accepted) as contact_accepted,
      (select count(*) from canonical.contact where not is_deleted) as contacts`);
  const { rows: reasons } = await pool.query<{ entity: string; severity: string; reason: string; n: string }>(`
    select entity, severity, reason, count(*) as n
    from etl.rejection where resolved_at is null
    group by entity, severity, reason
    order by severity, entity, count(*) desc`);
  const n = (k: string) => formatCount(Number(f![k]));
  const lines = [
    `companies: ${n('company_versions')} versions landed → ${n('company_records')} source records → ` +
      `${n('valid_inn')} with a valid INN → ${n('company_accepted')} accepted → ${n('companies')} canonical companies (one per INN) → ` +
      `${n('companies_ready')} ready for the CRM (registry ACTIVE; ${n('companies_unchecked')} not checked yet)`,
    `contacts:  ${n('contact_versions')} versions landed → ${n('contact_records')} source records → ` +
      `${n('contact_accepted')} accepted → ${n('contacts')} canonical contacts (merged by phone or e-mail)`,
    'open rejections:',
    ...reasons.map((r) => `  ${r.severity.padEnd(7)} ${r.entity.padEnd(7)} ${r.reason.padEnd(28)} ${formatCount(Number(r.n)).padStart(9)}`),
  ];
  return lines.join('\n');
}
