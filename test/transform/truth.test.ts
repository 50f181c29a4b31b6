import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestDatabase } from '../helpers/db.js';
import { transformedSample, type Sample } from '../helpers/sample.js';
import { companyMismatches, contactMismatches } from '../helpers/truth.js';

// The generator writes what must become of every record; the transform must agree exactly.
let db: TestDatabase;
let sample: Sample;
beforeAll(async () => {
  ({ db, sample } = await transformedSample(7));
});
afterAll(async () => {
  await db.drop();
});

describe('generated truth against the canonical result', () => {
  it('every company record has the expected outcome: its INN, or the reason it was dropped', async () => {
    expect((await companyMismatches(db, 'store_b', sample.truth.store_b.companies)).slice(0, 10)).toEqual([]);
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
    const people = new Map<number, string>();
    expect((await contactMismatches(db, 'store_b', sample.truth.store_b.contacts, people)).slice(0, 10)).toEqual([]);
    expect(Number(await db.value(`select count(*) from canonical.contact where not is_deleted`))).toBe(people.size);
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
