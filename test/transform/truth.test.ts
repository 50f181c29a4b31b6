import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestDatabase } from '../helpers/db.js';
import { transformedSample, type Sample } from '../helpers/sample.js';

// The generator writes what must become of every record; the transform must agree exactly.
let db: TestDatabase;
let sample: Sample;
beforeAll(async () => {
  ({ db, sample } = await transformedSample(7));
});
afterAll(async () => {
  await db.drop();
});

interface Outcome {
  source_key: string;
  accepted: boolean;
  inn: string | null;
  errors: string[] | null;
  warnings: string[] | null;
}

async function outcomes(entity: 'company' | 'contact'): Promise<Map<string, Outcome & { canonical_id: string | null; company_inn: string | null }>> {
  const table = entity === 'company' ? 'etl.source_company' : 'etl.source_contact';
  const link = entity === 'company'
    ? `left join canonical.company_source l on l.source = s.source and l.source_key = s.source_key
       left join canonical.company c on c.company_id = l.company_id`
    : `left join canonical.contact_source l on l.source = s.source and l.source_key = s.source_key
       left join canonical.contact ct on ct.contact_id = l.contact_id
       left join canonical.company c on c.company_id = ct.company_id`;
  const id = entity === 'company' ? 'l.company_id' : 'l.contact_id';
  const rows = await db.rows<Outcome & { canonical_id: string | null; company_inn: string | null }>(`
    select s.source_key, s.is_accepted as accepted, ${entity === 'company' ? 's.inn' : 'null::text'} as inn,
      ${id}::text as canonical_id, c.inn as company_inn,
      (select array_agg(reason order by reason) from etl.rejection r where r.source = s.source and r.entity = $1
         and r.source_key = s.source_key and r.resolved_at is null and r.severity = 'error') as errors,
      (select array_agg(reason order by reason) from etl.rejection r where r.source = s.source and r.entity = $1
         and r.source_key = s.source_key and r.resolved_at is null and r.severity = 'warning') as warnings
    from ${table} s ${link}`, [entity]);
  return new Map(rows.map((r) => [r.source_key, r]));
}

describe('generated truth against the canonical result', () => {
  it('every company record has the expected outcome: its INN, or the reason it was dropped', async () => {
    const actual = await outcomes('company');
    const expected = sample.truth.store_b.companies;
    expect(actual.size).toBe(Object.keys(expected).length);
    const mismatches: string[] = [];
    for (const [key, truth] of Object.entries(expected)) {
      const got = actual.get(key);
      const want = truth.inn
        ? { accepted: true, company_inn: truth.inn, errors: null, warnings: truth.warnings ? [...truth.warnings].sort() : null }
        : { accepted: false, company_inn: null, errors: [truth.reason], warnings: null };
      const have = { accepted: got?.accepted, company_inn: got?.company_inn ?? null, errors: got?.errors ?? null, warnings: truth.inn ? got?.warnings ?? null : null };
      if (JSON.stringify(have) !== JSON.stringify(want)) mismatches.push(`${key}: expected ${JSON.stringify(want)}, got ${JSON.stringify(have)}`);
    }
    expect(mismatches.slice(0, 10)).toEqual([]);
  });

  it('there is one canonical company per accepted INN, named as the newest record says', async () => {
    const expectedInns = new Set(Object.values(sample.truth.store_b.companies).flatMap((t) => (t.inn ? [t.inn] : [])));
    const companies = await db.rows<{ inn: string; name: string }>(`select inn, name from canonical.company where not is_deleted`);
    expect(companies.length).toBe(expectedInns.size);
    const wrongNames = companies.filter((c) => c.name !== sample.truth.store_b.names[c.inn]).map((c) => `${c.inn}: ${c.name} ≠ ${sample.truth.store_b.names[c.inn]}`);
    expect(wrongNames.slice(0, 10)).toEqual([]);
    // mojibake was repaired everywhere
    expect(await db.value(`select count(*) from canonical.company where name ~ '[À-ÿ]'`)).toBe('0');
  });

  it('every contact record lands on its person, or is dropped for the expected reason', async () => {
    const actual = await outcomes('contact');
    const expected = sample.truth.store_b.contacts;
    const personToContact = new Map<number, string>();
    const contactToPerson = new Map<string, number>();
    const mismatches: string[] = [];
    for (const [key, truth] of Object.entries(expected)) {
      const got = actual.get(key);
      if (truth.reason) {
        if (got?.accepted !== false || JSON.stringify(got.errors) !== JSON.stringify([truth.reason])) {
          mismatches.push(`${key}: expected ${truth.reason}, got ${JSON.stringify(got?.errors)}`);
        }
        continue;
      }
      if (!got?.accepted || !got.canonical_id) {
        mismatches.push(`${key}: expected accepted, got ${JSON.stringify(got?.errors)}`);
        continue;
      }
      if (got.company_inn !== truth.inn) mismatches.push(`${key}: company ${got.company_inn} ≠ ${truth.inn}`);
      const sameWarnings = JSON.stringify(got.warnings ?? []) === JSON.stringify([...(truth.warnings ?? [])].sort());
      if (!sameWarnings) mismatches.push(`${key}: warnings ${JSON.stringify(got.warnings)} ≠ ${JSON.stringify(truth.warnings)}`);
      const person = truth.person!;
      // the same person always maps to one canonical contact, and no two people share one
      if ((personToContact.get(person) ?? got.canonical_id) !== got.canonical_id) mismatches.push(`${key}: person ${person} split`);
      if ((contactToPerson.get(got.canonical_id) ?? person) !== person) mismatches.push(`${key}: contact ${got.canonical_id} merges two people`);
      personToContact.set(person, got.canonical_id);
      contactToPerson.set(got.canonical_id, person);
    }
    expect(mismatches.slice(0, 10)).toEqual([]);
    expect(Number(await db.value(`select count(*) from canonical.contact where not is_deleted`))).toBe(personToContact.size);
    // duplicates were merged and the merge logged with its rule
    expect(Number(await db.value(`select count(*) from etl.merge where entity = 'contact' and rule in ('shared_phone', 'shared_email')`))).toBeGreaterThan(0);
  });

  it('produces every reason code the generator plants', async () => {
    const reasons = await db.rows<{ reason: string }>(`select distinct reason from etl.rejection where resolved_at is null order by 1`);
    expect(reasons.map((r) => r.reason)).toEqual(expect.arrayContaining([
      'company_missing', 'company_rejected', 'email_invalid', 'inn_checksum', 'inn_malformed', 'inn_missing',
      'kpp_malformed', 'ogrn_checksum', 'bank_account_checksum', 'out_of_window', 'phone_invalid',
    ]));
  });

  it('stores phones as E.164 with extensions apart', async () => {
    const bad = await db.value(`select count(*) from canonical.contact, unnest(phones) p where p !~ '^\\+7\\d{10}$'`);
    expect(bad).toBe('0');
    const withExtension = await db.rows<{ phone_extensions: Record<string, string> }>(
      `select phone_extensions from canonical.contact where phone_extensions <> '{}' limit 1`);
    expect(Object.keys(withExtension[0]!.phone_extensions)[0]).toMatch(/^\+7\d{10}$/);
    expect(Object.values(withExtension[0]!.phone_extensions)[0]).toMatch(/^\d+$/);
  });
});
