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

  it('reads top down: a heading per record, the canonical company first under its own, no blank line before it', async () => {
    const byInn = new Map<string, string[]>();
    for (const [key, t] of Object.entries(sample.truth.store_b.companies)) if (t.inn && !t.reason) byInn.set(t.inn, [...(byInn.get(t.inn) ?? []), key]);
    const [inn, keys] = [...byInn].find(([, k]) => k.length === 2)!;
    const companyId = await db.value<string>('select company_id::text from canonical.company where inn = $1', [inn]);
    const heading = `canonical company ${companyId} (INN ${inn})`;
    for (const subject of [inn, `store_b:${keys[0]}`]) {
      const result = await runCli(['why', subject], db.url);
      expect(result.code, result.stderr).toBe(0);
      const lines = result.stdout.replace(/\n$/, '').split('\n');
      const sections = splitSections(lines);
      expect(sections[0]![0], subject).toBe(heading);
      expect(sections[0]![1], subject).toMatch(new RegExp(`^  .{16}  canonical  canonical company ${companyId}: .*, INN ${inn}`));
      // every source record under its own heading, after the canonical company, each heading once
      const headings = sections.map((s) => s[0]!);
      expect(new Set(headings).size).toBe(headings.length);
      const wanted = subject === inn ? keys : [keys[0]!];
      expect(headings.slice(1)).toEqual(wanted.map((key) => `store_b:${key} (company)`).sort());
      for (const section of sections) for (const fact of section.slice(1)) expect(fact, subject).toMatch(/^  \S/);
    }
  });

  it('says so when nothing is known', async () => {
    const result = await runCli(['why', 'store_b:NO-SUCH-KEY'], db.url);
    expect(result.code).toBe(1);
    expect(result.stdout).toContain('nothing is known about store_b:NO-SUCH-KEY');
  });
});

/** The output's sections: a heading line and the fact lines under it, separated by one blank line. */
function splitSections(lines: string[]): string[][] {
  expect(lines[0], 'the first line is a heading').toMatch(/^\S/);
  return lines.join('\n').split('\n\n').map((section) => section.split('\n'));
}
