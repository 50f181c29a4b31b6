import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import type { TestDatabase } from '../helpers/db.js';
import { transformedSample, type Sample } from '../helpers/sample.js';

let db: TestDatabase;
let sample: Sample;
beforeAll(async () => {
  ({ db, sample } = await transformedSample(3));
});
afterAll(async () => {
  await db.drop();
});

describe('b2b-etl why', () => {
  it('explains a rejected company: where it came from, the rule it broke, that it feeds nothing', async () => {
    const [key] = Object.entries(sample.truth.store_b.companies).find(([, t]) => t.reason === 'inn_checksum')!;
    const result = await runCli(['why', `store_b:${key}`], db.url);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain(`store_b:${key}`);
    expect(result.stdout).toMatch(/landed\s+store_b company version landed in batch \d+ from .*store_b_companies/);
    expect(result.stdout).toMatch(/rejection\s+error inn_checksum: the INN check digits do not match .*still applies/);
    expect(result.stdout).toMatch(/dropped\s+feeds no canonical row: rejected/);
  });

  it('explains a merged company by INN: both source records, the merge rule and the canonical row', async () => {
    const byInn = new Map<string, string[]>();
    for (const [key, t] of Object.entries(sample.truth.store_b.companies)) if (t.inn) byInn.set(t.inn, [...(byInn.get(t.inn) ?? []), key]);
    const [inn, keys] = [...byInn].find(([, k]) => k.length === 2)!;
    const result = await runCli(['why', inn], db.url);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(new RegExp(`canonical company \\d+: .*, INN ${inn}.*, 2 source record\\(s\\)`));
    for (const key of keys) expect(result.stdout).toContain(`store_b:${key}`);
    expect(result.stdout).toMatch(new RegExp(`merge\\s+merged into canonical company \\d+ by rule same_inn \\(${inn}\\)`));
    expect(result.stdout.match(/became\s+feeds canonical company/g)).toHaveLength(2);
  });

  it('says so when nothing is known', async () => {
    const result = await runCli(['why', 'store_b:NO-SUCH-KEY'], db.url);
    expect(result.code).toBe(1);
    expect(result.stdout).toContain('nothing is known about store_b:NO-SUCH-KEY');
  });
});
