import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { landFile, type LandFileOptions } from '../../src/land/file.js';
import { runTransform } from '../../src/transform/run.js';
import { runCli } from '../helpers/cli.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';

// What real exports hold and real operators do, through the file loader: records PostgreSQL
// refuses, keys JavaScript cannot hold, change times in local forms, the wrong source name,
// a replaced file under --resume, and files that are no JSON at all.

let db: TestDatabase;
const dir = mkdtempSync(join(tmpdir(), 'b2b-etl-bad-'));
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db.drop();
});

const options = (path: string, extra: Partial<LandFileOptions> = {}): LandFileOptions => ({
  path,
  source: 'store_b',
  entity: 'company',
  encoding: 'utf8',
  fields: { key: 'id', updated: 'updated' },
  quiet: true,
  ...extra,
});

const failure = (p: Promise<unknown>) => p.then(() => null, (e: Error) => e);

// Valid INNs (checksums right), so a record's only problem is the one under test.
const INNS = ['7707083893', '7736050003', '7702070139', '7710140679', '7728168971', '7703270067', '7704217370', '7712040126'];

describe('records PostgreSQL refuses (--max-errors)', () => {
  const good = (i: number) => `{"id": "R-${i}", "inn": "${INNS[i % INNS.length]}", "title": "ООО «Тест ${i}»", "updated": "2026-10-01T10:00:00Z"}`;
  const refused = [
    '{"id": "R-bad-1", "inn": "7707083893", "title": "\\ud800 lone surrogate", "updated": "2026-10-01T10:00:00Z"}',
    '{"id": "R-bad-2", "inn": "7707083893", "revenue": 1e1000000, "updated": "2026-10-01T10:00:00Z"}',
    `{"id": "R-bad-3", "inn": "7707083893", "tags": ${'['.repeat(100_000)}${']'.repeat(100_000)}}`,
  ];
  const lines = [good(1), refused[0]!, good(2), refused[1]!, good(3), refused[2]!, good(4)];

  it('stops at the first refused record by default, naming it', async () => {
    const path = join(dir, 'refused-default.ndjson');
    writeFileSync(path, lines.join('\n') + '\n');
    const error = await failure(landFile(db.pool, options(path)));
    expect(error?.message).toMatch(/refused-default\.ndjson: record 2 at byte \d+ \(line 2, column \d+\): PostgreSQL refused the JSON: .*surrogate/);
    expect(error?.message).toContain('No record of this file is landed');
  });

  it('with --max-errors N lands up to N refused records raw, rejects them unparseable, and goes on', async () => {
    const path = join(dir, 'refused.ndjson');
    writeFileSync(path, lines.join('\n') + '\n');
    const result = await landFile(db.pool, options(path, { maxErrors: 3 }));
    expect(result).toMatchObject({ records: 7, landed: 7, refused: 3 });
    const raw = await db.rows<{ source_key: string; payload: unknown; raw_text: string; reason: string }>(
      `select source_key, payload, raw_text, landing_issues -> 0 ->> 'reason' as reason from staging.record
       where source_key like 'R-bad-%' order by source_key`);
    expect(raw.map((r) => [r.source_key, r.payload, r.reason])).toEqual([
      ['R-bad-1', null, 'unparseable'], ['R-bad-2', null, 'unparseable'], ['R-bad-3', null, 'unparseable']]);
    expect(raw[1]!.raw_text).toContain('1e1000000');
    await runTransform(db.pool);
    const rejected = await db.rows<{ source_key: string; detail: string }>(
      `select source_key, detail from etl.rejection where reason = 'unparseable' and source_key like 'R-bad-%' order by source_key`);
    expect(rejected.map((r) => r.source_key)).toEqual(['R-bad-1', 'R-bad-2', 'R-bad-3']);
    expect(rejected[0]!.detail).toMatch(/record 2 at byte \d+: PostgreSQL refused the JSON: .*surrogate/);
    expect(rejected[1]!.detail).toMatch(/overflows numeric/);
    expect(rejected[2]!.detail).toMatch(/stack depth/);
    expect(await db.value(`select count(*) from etl.source_company where source_key like 'R-%' and is_accepted`)).toBe('4');
    // the same file again: nothing new, the raw versions included
    expect((await landFile(db.pool, options(path, { maxErrors: 3 }))).landed).toBe(0);
  });

  it('stops at the refused record one past --max-errors, and the CLI takes the flag', async () => {
    const path = join(dir, 'refused-two.ndjson');
    writeFileSync(path, lines.join('\n') + '\n');
    const error = await failure(landFile(db.pool, options(path, { maxErrors: 2 })));
    expect(error?.message).toMatch(/record 6 at byte \d+ \(line 6, column \d+\): nested too deep for PostgreSQL to parse .* more than --max-errors 2 records refused/);
    const cli = await runCli(['land', 'file', path, '--source', 'store_b', '--entity', 'companies', '--max-errors', '3', '--quiet'], db.url);
    expect(cli.code, cli.stderr).toBe(0);
  });
});

describe('keys', () => {
  it('takes numeric ids digit for digit: two ids past 2^53 stay two companies', async () => {
    const path = join(dir, 'big-ids.json');
    // equal as doubles, different as numbers
    writeFileSync(path, `[{"id": 12345678901234567890, "inn": "7707083893", "title": "Первая", "updated": "2026-10-01T10:00:00Z"},
      {"id": 12345678901234567891, "inn": "7736050003", "title": "Вторая", "updated": "2026-10-01T10:00:00Z"}]`);
    expect(await landFile(db.pool, options(path))).toMatchObject({ records: 2, landed: 2 });
    await runTransform(db.pool);
    expect(await db.rows(`select source_key, inn from etl.source_company where source_key like '123456789012345678%' order by 1`)).toEqual([
      { source_key: '12345678901234567890', inn: '7707083893' },
      { source_key: '12345678901234567891', inn: '7736050003' },
    ]);
  });

  it('lands a record with no key, an empty key or a key that is not text or a number, rejected key_missing, never keyed by position', async () => {
    const path = join(dir, 'no-keys.json');
    const records = [
      '{"inn": "7702070139", "title": "без ключа", "updated": "2026-10-01T10:00:00Z"}',
      '{"id": "", "inn": "7710140679", "title": "пустой ключ", "updated": "2026-10-01T10:00:00Z"}',
      '{"id": "   ", "inn": "7710140679", "title": "пробелы", "updated": "2026-10-01T10:00:00Z"}',
      '{"id": null, "inn": "7728168971", "title": "null", "updated": "2026-10-01T10:00:00Z"}',
      '{"id": {"n": 1}, "inn": "7703270067", "title": "объект", "updated": "2026-10-01T10:00:00Z"}',
      '{"id": "K-1", "inn": "7704217370", "title": "с ключом", "updated": "2026-10-01T10:00:00Z"}',
    ];
    writeFileSync(path, `[${records.join(',\n')}]`);
    expect(await landFile(db.pool, options(path))).toMatchObject({ records: 6, landed: 6 });
    const keys = await db.rows<{ source_key: string }>(`select source_key from staging.record r join staging.batch b using (batch_id) where b.origin = $1 order by staging_id`, [path]);
    expect(keys.slice(0, 5).every((k) => /^#nokey:[0-9a-f]{32}$/.test(k.source_key))).toBe(true);
    expect(keys.some((k) => k.source_key.includes('no-keys.json'))).toBe(false);
    await runTransform(db.pool);
    const rejected = await db.rows<{ detail: string }>(
      `select r.detail from etl.rejection r where r.reason = 'key_missing' and r.resolved_at is null and r.source_key like '#nokey:%' order by r.staging_id`);
    expect(rejected.map((r) => r.detail.split(':')[0])).toEqual([
      "no field 'id' holding text or a number", "field 'id' is empty", "field 'id' is empty", "field 'id' is null", "no field 'id' holding text or a number"]);
    expect(await db.value(`select count(*) from etl.source_company where source_key like '#nokey:%' and is_accepted`)).toBe('0');
    expect(await db.value(`select count(*) from etl.source_company where source_key = 'K-1' and is_accepted`)).toBe('1');
    // landed again, or from another file: the same rows
    writeFileSync(join(dir, 'no-keys-copy.json'), `[${records.join(',')}]`);
    expect((await landFile(db.pool, options(join(dir, 'no-keys-copy.json')))).landed).toBe(0);
  });
});

describe('change times', () => {
  it('reads the allowed forms in the source zone, and warns about anything else instead of guessing', async () => {
    const path = join(dir, 'times.ndjson');
    const cases: Array<[string, unknown, string | null]> = [
      ['T-1', '01.10.2026', '2026-09-30T21:00:00.000Z'], // 1 October, day first, at midnight in +03:00
      ['T-2', '01.10.2026 14:30', '2026-10-01T11:30:00.000Z'],
      ['T-3', '2026-10-01T14:30:00', '2026-10-01T11:30:00.000Z'], // no offset: the source's zone
      ['T-4', '2026-10-01T14:30:00+05:00', '2026-10-01T09:30:00.000Z'],
      ['T-5', '2026-02-30', null],
      ['T-6', 'garbage', null],
      ['T-7', 1790000000, null], // a number, and the source did not say it sends epoch times
      ['T-8', '10/01/2026', null],
    ];
    writeFileSync(path, cases.map(([id, updated], i) => JSON.stringify({ id, inn: INNS[i], title: id, updated })).join('\n'));
    await landFile(db.pool, options(path, { fields: { key: 'id', updated: 'updated', timezone: '+03:00' } }));
    const got = await db.rows<{ source_key: string; at: Date | null; warning: string | null }>(
      `select source_key, source_updated_at as at, landing_issues -> 0 ->> 'value' as warning from staging.record where source_key like 'T-%' order by source_key`);
    expect(got.map((r) => [r.source_key, r.at?.toISOString() ?? null])).toEqual(cases.map(([id, , want]) => [id, want]));
    expect(got.filter((r) => r.warning !== null).map((r) => r.warning)).toEqual(['2026-02-30', 'garbage', '1790000000', '10/01/2026']);
    await runTransform(db.pool);
    const warned = await db.rows<{ source_key: string; severity: string; value: string }>(
      `select source_key, severity, value from etl.rejection where reason = 'updated_unparseable' and source_key like 'T-%' order by 1`);
    expect(warned).toEqual([
      { source_key: 'T-5', severity: 'warning', value: '2026-02-30' },
      { source_key: 'T-6', severity: 'warning', value: 'garbage' },
      { source_key: 'T-7', severity: 'warning', value: '1790000000' },
      { source_key: 'T-8', severity: 'warning', value: '10/01/2026' },
    ]);
    // a warning empties the field; the record itself is accepted
    expect(await db.value(`select count(*) from etl.source_company where source_key like 'T-%' and is_accepted`)).toBe('8');
  });

  it('reads epoch seconds and milliseconds when the source says which', async () => {
    const seconds = join(dir, 'epoch-s.ndjson');
    const millis = join(dir, 'epoch-ms.ndjson');
    writeFileSync(seconds, [{ id: 'E-1', updated: 1790000000 }, { id: 'E-2', updated: '1790000000' }].map((r) => JSON.stringify(r)).join('\n'));
    writeFileSync(millis, JSON.stringify({ id: 'E-3', updated: 1790000000123 }));
    await landFile(db.pool, options(seconds, { fields: { key: 'id', updated: 'updated', updatedFormat: 'epoch_seconds' } }));
    await landFile(db.pool, options(millis, { fields: { key: 'id', updated: 'updated', updatedFormat: 'epoch_millis' } }));
    expect(await db.rows(`select source_key, source_updated_at as at from staging.record where source_key like 'E-%' order by 1`)).toEqual([
      { source_key: 'E-1', at: new Date(1790000000_000) },
      { source_key: 'E-2', at: new Date(1790000000_000) },
      { source_key: 'E-3', at: new Date(1790000000_123) },
    ]);
    // seconds given where milliseconds are expected would be 1970: no time, and a warning
    const wrongUnit = join(dir, 'epoch-wrong.ndjson');
    writeFileSync(wrongUnit, [{ id: 'E-4', updated: 1760000000 }, { id: 'E-5', updated: 0 }, { id: 'E-6', updated: -1 }].map((r) => JSON.stringify(r)).join('\n'));
    await landFile(db.pool, options(wrongUnit, { fields: { key: 'id', updated: 'updated', updatedFormat: 'epoch_millis' } }));
    expect(await db.rows(`select source_key, source_updated_at as at, landing_issues -> 0 ->> 'reason' as reason from staging.record where source_key in ('E-4', 'E-5', 'E-6') order by 1`)).toEqual([
      { source_key: 'E-4', at: null, reason: 'updated_unparseable' },
      { source_key: 'E-5', at: null, reason: 'updated_unparseable' },
      { source_key: 'E-6', at: null, reason: 'updated_unparseable' },
    ]);
  });
});

describe('U+0000 and newer versions that cannot be read', () => {
  it('keeps a key holding U+0000 apart from the key without it, and says when U+0000 was removed from a record', async () => {
    const path = join(dir, 'nul.ndjson');
    writeFileSync(path, [
      '{"id": "N-1", "inn": "7707083893", "title": "обычная"}',
      '{"id": "N-1\\u0000", "inn": "7707083893", "title": "с нулём в ключе"}',
      '{"id": "\\u0000", "inn": "7707083893", "title": "только нуль"}',
      '{"id": "N-2", "inn": "7707083893", "title": "ab\\u0000cd"}',
    ].join('\n'));
    expect(await landFile(db.pool, options(path))).toMatchObject({ records: 4, landed: 4 });
    const rows = await db.rows<{ source_key: string; title: string; reasons: string | null }>(
      `select source_key, payload ->> 'title' as title, (select string_agg(i ->> 'reason', ',') from jsonb_array_elements(landing_issues) i) as reasons
       from staging.record r join staging.batch b using (batch_id) where b.origin = $1 order by staging_id`, [path]);
    expect(rows).toEqual([
      { source_key: 'N-1', title: 'обычная', reasons: null },
      // the payload's own id loses its U+0000: said too
      { source_key: 'N-1\\u0000', title: 'с нулём в ключе', reasons: 'nul_removed' },
      { source_key: '\\u0000', title: 'только нуль', reasons: 'nul_removed' },
      { source_key: 'N-2', title: 'abcd', reasons: 'nul_removed' },
    ]);
  });

  it('a newer version PostgreSQL refuses leaves the last version that could be read standing, with a warning', async () => {
    const first = join(dir, 'newer-1.ndjson');
    const second = join(dir, 'newer-2.ndjson');
    writeFileSync(first, JSON.stringify({ id: 'U-1', inn: INNS[5], title: 'Хорошая', updated: '2026-10-01T10:00:00Z' }));
    writeFileSync(second, '{"id": "U-1", "inn": "' + INNS[5] + '", "title": "\\ud800 сломанная", "updated": "2026-10-02T10:00:00Z"}');
    await landFile(db.pool, options(first));
    await runTransform(db.pool);
    await landFile(db.pool, options(second, { maxErrors: 1 }));
    await runTransform(db.pool);
    expect(await db.rows(`select name, is_accepted from etl.source_company where source_key = 'U-1'`)).toEqual([{ name: 'Хорошая', is_accepted: true }]);
    expect(await db.rows(`select reason, severity from etl.rejection where source_key = 'U-1' and resolved_at is null`)).toEqual([
      { reason: 'newer_unparseable', severity: 'warning' }]);
  });
});

describe('what operators get wrong', () => {
  it('refuses --encoding cp1251 for a file that is UTF-8, before landing anything', async () => {
    const path = join(dir, 'utf8-not-cp1251.json');
    writeFileSync(path, JSON.stringify([{ id: 'C-1', inn: INNS[6], title: 'ООО «Техпром»' }]));
    const error = await failure(landFile(db.pool, options(path, { encoding: 'cp1251' })));
    expect(error?.message).toContain('the file is UTF-8 (its first 64 KiB hold 12 non-ASCII characters, all well-formed UTF-8)');
    expect(error?.message).toContain('land it without --encoding cp1251');
    expect(await db.value(`select count(*) from staging.record where source_key = 'C-1'`)).toBe('0');
  });

  it('lands a file only under a file source, and MySQL only under a MySQL source', async () => {
    const path = join(dir, 'wrong-kind.json');
    writeFileSync(path, JSON.stringify([{ id: '6', name: 'FAKE FROM FILE' }]));
    const file = await runCli(['land', 'file', path, '--source', 'store_a', '--entity', 'companies'], db.url);
    expect(file.code).not.toBe(0);
    expect(file.stderr).toContain("source 'store_a' is read from MySQL (land mysql --source store_a)");
    const mysql = await runCli(['land', 'mysql', '--source', 'store_b'], db.url, { MYSQL_URL: 'mysql://root@127.0.0.1:3306/test' });
    expect(mysql.code).not.toBe(0);
    expect(mysql.stderr).toMatch(/store_b is not a MySQL source: the MySQL sources are store_a \(built in\)/);
    expect(await db.value(`select count(*) from staging.record where source = 'store_a'`)).toBe('0');
  });

  it('refuses a source no staging view maps before landing anything, naming the known ones', async () => {
    const path = join(dir, 'typo.json');
    writeFileSync(path, '[{"id": "X-1", "inn": "7707083893"}]');
    const before = await db.value(`select count(*) from staging.record`);
    const error = await failure(landFile(db.pool, options(path, { source: 'store-b' })));
    expect(error?.message).toContain("unknown source 'store-b' for companies: the warehouse maps companies of 'store_a', 'store_b'");
    expect(await db.value(`select count(*) from staging.record`)).toBe(before);
    expect(await db.value(`select count(*) from staging.batch where source = 'store-b'`)).toBe('0');
  });

  it('refuses to --resume a file replaced by another export with the same name', async () => {
    const path = join(dir, 'export.ndjson');
    const rows = (from: number, n: number, title: string) =>
      Array.from({ length: n }, (_, i) => JSON.stringify({ id: `X-${from + i}`, inn: INNS[0], title, updated: '2026-10-01T10:00:00Z' }));
    // the first export breaks at record 250: records 1 to 200 are landed
    const first = rows(1, 300, 'первая');
    first[249] = '{"id": "X-250", "inn": ';
    writeFileSync(path, first.join('\n'));
    expect((await failure(landFile(db.pool, options(path, { batchSize: 100 }))))?.message).toContain('Records 1 to 200 are landed');
    // a new export with the same name: its first 200 records differ
    writeFileSync(path, rows(1, 300, 'вторая').join('\n'));
    const error = await failure(landFile(db.pool, options(path, { batchSize: 100, resume: true })));
    expect(error?.message).toContain('does not start with the 200 records landed from it before');
    expect(error?.message).toContain('run again without --resume');
    expect(await db.value(`select count(*) from staging.record where source_key like 'X-%' and payload ->> 'title' = 'вторая'`)).toBe('0');
    // the broken export fixed where it broke: --resume continues, whatever the batch size
    const fixed = rows(1, 300, 'первая');
    writeFileSync(path, fixed.join('\n'));
    expect(await landFile(db.pool, options(path, { batchSize: 70, resume: true }))).toMatchObject({ records: 300, skipped: 200, landed: 100 });
  });

  it('says exactly which records are in staging when a batch fails after later ones committed', async () => {
    const path = join(dir, 'parallel.ndjson');
    const rows = Array.from({ length: 6000 }, (_, i) => ({ id: `P-${i + 1}`, inn: INNS[0], title: 'параллельно', updated: '2026-10-01T10:00:00Z' }));
    const lines = rows.map((r) => JSON.stringify(r));
    lines[2999] = '{"id": "P-3000", "title": "\\ud800"}'; // batch 2 (records 1 501 to 3 000) fails at its end
    writeFileSync(path, lines.join('\n'));
    // Batch 2 is held at its first record by an uncommitted row with the same key and hash
    // (a binary COPY inserts its first 1 000 rows before it reads the next), until batches 3
    // and 4 have committed; then it goes on and fails.
    const hold = await db.pool.connect();
    await hold.query('begin');
    const hash = createHash('md5').update(lines[1500]!).digest('hex');
    await hold.query(`insert into staging.record (batch_id, source, entity, source_key, payload_hash) values (0, 'store_b', 'company', 'P-1501', $1)`, [hash]);
    const load = failure(landFile(db.pool, options(path, { batchSize: 1500 })));
    try {
      for (let i = 0; i < 600 && Number(await db.value(`select count(*) from etl.file_progress where file_path = $1 and first_record > 3000`, [path])) < 2; i++) {
        await new Promise((r) => setTimeout(r, 50));
      }
    } finally {
      await hold.query('rollback');
      hold.release();
    }
    const error = await load;
    expect(error?.message).toMatch(/record 3000 at byte [\d ]+/);
    expect(error?.message).toContain('Records 1 to 1 500 are landed, and also 3 001 to 6 000 (batches written in parallel that committed before the stop)');
    const landed = await db.rows<{ n: string }>(`select count(*) as n from staging.record r join staging.batch b using (batch_id) where b.origin = $1`, [path]);
    expect(landed[0]!.n).toBe('4500');
    // --resume continues after record 1 500 and lands nothing twice
    lines[2999] = JSON.stringify(rows[2999]);
    writeFileSync(path, lines.join('\n'));
    expect(await landFile(db.pool, options(path, { batchSize: 1500, resume: true }))).toMatchObject({ skipped: 1500, landed: 1500 });
  });

  it('gives a directory, a missing file and a truncated gzip the same message shape as other bad input', async () => {
    const folder = join(dir, 'a-folder');
    mkdirSync(folder);
    expect((await failure(landFile(db.pool, options(folder))))?.message).toBe(
      `${folder}: record 1 at byte 0: a directory, not a file; nothing was landed; give the path of a JSON or NDJSON file`);
    expect((await failure(landFile(db.pool, options(join(dir, 'missing.json')))))?.message).toContain('missing.json: record 1 at byte 0: no such file');

    const gz = join(dir, 'cut.ndjson.gz');
    const whole = gzipSync(Array.from({ length: 2000 }, (_, i) => JSON.stringify({ id: `G-${i}`, title: 'x'.repeat(50) })).join('\n'));
    writeFileSync(gz, whole.subarray(0, Math.floor(whole.length / 2)));
    const error = await failure(landFile(db.pool, options(gz, { batchSize: 500 })));
    expect(error?.message).toMatch(/cut\.ndjson\.gz: record \d+ at byte [\d ]+: the gzip data ends early \(a truncated file\), after [\d ]+ complete records\. (Records 1 to [\d ]+ are landed|No record of this file is landed)/);
    expect(error?.message).toContain('rerun with --resume');

    const cli = await runCli(['land', 'file', folder, '--source', 'store_b', '--entity', 'companies'], db.url);
    expect(cli.code).toBe(1);
    expect(cli.stderr).toContain('a directory, not a file');
    expect(cli.stderr).not.toMatch(/\n\s+at /); // no stack trace
  });
});
