import type { CompanyTruth, ContactTruth } from '../../src/generate/store-b.js';
import type { OrderTruth } from '../../src/generate/orders.js';
import type { TestDatabase } from './db.js';

interface Outcome {
  source_key: string;
  accepted: boolean;
  canonical_id: string | null;
  company_inn: string | null;
  errors: string[] | null;
  warnings: string[] | null;
}

/** What the transform made of every record of one source: verdict, reasons, canonical row. */
async function outcomes(db: TestDatabase, source: string, entity: 'company' | 'contact'): Promise<Map<string, Outcome>> {
  const table = entity === 'company' ? 'etl.source_company' : 'etl.source_contact';
  const link = entity === 'company'
    ? `left join canonical.company_source l on l.source = s.source and l.source_key = s.source_key
       left join canonical.company c on c.company_id = l.company_id`
    : `left join canonical.contact_source l on l.source = s.source and l.source_key = s.source_key
       left join canonical.contact ct on ct.contact_id = l.contact_id
       left join canonical.company c on c.company_id = ct.company_id`;
  const id = entity === 'company' ? 'l.company_id' : 'l.contact_id';
  const rows = await db.rows<Outcome>(`
    select s.source_key, s.is_accepted as accepted, ${id}::text as canonical_id, c.inn as company_inn,
      (select array_agg(reason order by reason) from etl.rejection r where r.source = s.source and r.entity = $1
         and r.source_key = s.source_key and r.resolved_at is null and r.severity = 'error') as errors,
      (select array_agg(reason order by reason) from etl.rejection r where r.source = s.source and r.entity = $1
         and r.source_key = s.source_key and r.resolved_at is null and r.severity = 'warning') as warnings
    from ${table} s ${link}
    where s.source = $2`, [entity, source]);
  return new Map(rows.map((r) => [r.source_key, r]));
}

/** Company records whose outcome differs from the generated truth (empty when all agree). */
export async function companyMismatches(db: TestDatabase, source: string, expected: Record<string, CompanyTruth>): Promise<string[]> {
  const actual = await outcomes(db, source, 'company');
  const mismatches: string[] = [];
  if (actual.size !== Object.keys(expected).length) mismatches.push(`${actual.size} records transformed, ${Object.keys(expected).length} expected`);
  for (const [key, truth] of Object.entries(expected)) {
    const got = actual.get(key);
    const want = truth.inn
      ? { accepted: true, company_inn: truth.inn, errors: null, warnings: truth.warnings ? [...truth.warnings].sort() : null }
      : { accepted: false, company_inn: null, errors: [truth.reason], warnings: null };
    const have = { accepted: got?.accepted, company_inn: got?.company_inn ?? null, errors: got?.errors ?? null, warnings: truth.inn ? got?.warnings ?? null : null };
    if (JSON.stringify(have) !== JSON.stringify(want)) mismatches.push(`${source}:${key}: expected ${JSON.stringify(want)}, got ${JSON.stringify(have)}`);
  }
  return mismatches;
}

/**
 * Contact records whose outcome differs from the truth: each lands on its person's one
 * canonical contact (no person split, no two people merged), or is dropped for its reason.
 * `people` maps person → canonical contact, shared between calls for several sources.
 */
export async function contactMismatches(
  db: TestDatabase,
  source: string,
  expected: Record<string, ContactTruth>,
  people = new Map<number, string>(),
): Promise<string[]> {
  const actual = await outcomes(db, source, 'contact');
  const contactToPerson = new Map<string, number>([...people].map(([p, c]) => [c, p]));
  const mismatches: string[] = [];
  for (const [key, truth] of Object.entries(expected)) {
    const got = actual.get(key);
    if (truth.reason) {
      if (got?.accepted !== false || JSON.stringify(got.errors) !== JSON.stringify([truth.reason])) {
        mismatches.push(`${source}:${key}: expected ${truth.reason}, got ${JSON.stringify(got?.errors)}`);
      }
      continue;
    }
    if (!got?.accepted || !got.canonical_id) {
      mismatches.push(`${source}:${key}: expected accepted, got ${JSON.stringify(got?.errors)}`);
      continue;
    }
    if (got.company_inn !== truth.inn) mismatches.push(`${source}:${key}: company ${got.company_inn} ≠ ${truth.inn}`);
    const sameWarnings = JSON.stringify(got.warnings ?? []) === JSON.stringify([...(truth.warnings ?? [])].sort());
    if (!sameWarnings) mismatches.push(`${source}:${key}: warnings ${JSON.stringify(got.warnings)} ≠ ${JSON.stringify(truth.warnings)}`);
    const person = truth.person!;
    if ((people.get(person) ?? got.canonical_id) !== got.canonical_id) mismatches.push(`${source}:${key}: person ${person} split`);
    if ((contactToPerson.get(got.canonical_id) ?? person) !== person) mismatches.push(`${source}:${key}: contact ${got.canonical_id} merges two people`);
    people.set(person, got.canonical_id);
    contactToPerson.set(got.canonical_id, person);
  }
  return mismatches;
}

interface DealRow {
  source: string;
  source_key: string;
  inn: string;
  contact_id: string | null;
  stage_id: string;
  outcome: string;
  amount: string;
  currency: string;
  begin_at: Date;
  items: string;
  is_deleted: boolean;
}

/**
 * What differs between the truth and the deals and rejections of `source`; `partial`: the truth
 * holds some of the source's orders (the ones events touched), so other deals are no mismatch.
 */
export async function orderMismatches(db: TestDatabase, source: string, truth: Record<string, OrderTruth>, partial = false): Promise<string[]> {
  const deals = new Map((await db.rows<DealRow>(`
    select d.source, d.source_key, c.inn, d.contact_id::text, d.stage_id, d.outcome, d.amount::text, d.currency, d.begin_at,
           (select count(*) from canonical.deal_item i where i.deal_id = d.deal_id)::text as items, d.is_deleted
    from canonical.deal d join canonical.company c using (company_id)
    where d.source = $1`, [source])).map((d) => [d.source_key, d]));
  const rejections = new Map<string, string[]>();
  for (const r of await db.rows<{ source_key: string; reason: string }>(
    `select source_key, reason from etl.rejection where source = $1 and entity = 'order' and resolved_at is null`, [source])) {
    rejections.set(r.source_key, [...(rejections.get(r.source_key) ?? []), r.reason]);
  }
  // the canonical person of each source contact
  const person = new Map((await db.rows<{ source_key: string; contact_id: string }>(
    `select source_key, contact_id::text from canonical.contact_source where source = $1 and entity = 'contact'`, [source])).map((r) => [r.source_key, r.contact_id]));
  const problems: string[] = [];
  for (const [key, want] of Object.entries(truth)) {
    const deal = deals.get(key);
    const reasons = rejections.get(key) ?? [];
    if (want.deleted) {
      if (deal && !deal.is_deleted) problems.push(`${key}: deleted at the source, its deal stands`);
      continue;
    }
    if (want.reason) {
      if (deal && !deal.is_deleted) problems.push(`${key}: expected ${want.reason}, got a deal`);
      if (!reasons.includes(want.reason)) problems.push(`${key}: expected ${want.reason}, rejected for ${reasons.join(', ') || 'nothing'}`);
      continue;
    }
    if (!deal || deal.is_deleted) {
      problems.push(`${key}: expected a deal, got none (rejected for ${reasons.join(', ') || 'nothing'})`);
      continue;
    }
    const expected = {
      inn: want.inn, contact: want.contact ? person.get(want.contact) ?? `(person of ${want.contact})` : null, stage: want.stage,
      outcome: want.outcome, amount: want.amount, currency: want.currency, created: want.created, items: String(want.items),
      warnings: (want.warnings ?? []).join(','),
    };
    const got = {
      inn: deal.inn, contact: deal.contact_id, stage: deal.stage_id, outcome: deal.outcome, amount: deal.amount, currency: deal.currency,
      created: deal.begin_at.toISOString().replace('.000Z', 'Z').replace(/\.\d+Z$/, 'Z'), items: deal.items,
      warnings: reasons.filter((r) => r === 'total_mismatch').join(','),
    };
    expected.created = expected.created?.replace('.000Z', 'Z');
    if (JSON.stringify(expected) !== JSON.stringify(got)) problems.push(`${key}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(got)}`);
  }
  const extra = partial ? [] : [...deals.keys()].filter((k) => !(k in truth));
  if (extra.length > 0) problems.push(`deals of no order: ${extra.slice(0, 5).join(', ')}`);
  return problems;
}
