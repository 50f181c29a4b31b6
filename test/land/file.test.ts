import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import iconv from 'iconv-lite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { landFile, type LandFileOptions } from '../../src/land/file.js';
import { startCli } from '../helpers/cli.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';

let db: TestDatabase;
const dir = mkdtempSync(join(tmpdir(), 'b2b-etl-land-'));
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db.drop();
});

function companies(n: number, from = 1) {
  return Array.from({ length: n }, (_, i) => ({
    id: `B-${from + i}`,
    inn: '7707083893',
    title: `ООО «Ромашка-${from + i}»`,
    updated: '2026-03-01T10:00:00Z',
  }));
}

const options = (path: string, extra: Partial<LandFileOptions> = {}): LandFileOptions => ({
  path,
  source: 'store_b',
  entity: 'company',
  encoding: 'utf8',
  fields: { key: 'id', updated: 'updated' },
  quiet: true,
  ...extra,
});

const countFor = (path: string) =>
  db.value<string>(`select count(*) from staging.record r join staging.batch b using (batch_id) where b.origin = $1`, [path]).then(Number);

describe('land file', () => {
  it('lands a JSON array, a nested array, NDJSON, gzip and cp1251 with the same records', async () => {
    const records = companies(30);
    const files = {
      array: join(dir, 'a.json'),
      nested: join(dir, 'b.json'),
      ndjson: join(dir, 'c.ndjson'),
      gzip: join(dir, 'd.ndjson.gz'),
      cp1251: join(dir, 'e.json'),
    };
    writeFileSync(files.array, JSON.stringify(records, null, 2));
    writeFileSync(files.nested, JSON.stringify({ exported_at: 'x', companies: records }));
    writeFileSync(files.ndjson, records.map((r) => JSON.stringify(r)).join('\n') + '\n');
    writeFileSync(files.gzip, gzipSync(records.map((r) => JSON.stringify(r)).join('\n')));
    writeFileSync(files.cp1251, iconv.encode(JSON.stringify(records), 'win1251'));

    const first = await landFile(db.pool, options(files.array));
    expect(first).toMatchObject({ records: 30, landed: 30 });
    // the same records again from every other shape: nothing new
    await landFile(db.pool, options(files.nested, { jsonPath: 'companies' }));
    await landFile(db.pool, options(files.ndjson));
    await landFile(db.pool, options(files.gzip));
    await landFile(db.pool, options(files.cp1251, { encoding: 'cp1251' }));
    const titles = await db.rows<{ title: string }>(
      `select distinct payload ->> 'title' as title from staging.record where source_key in ('B-1', 'B-30') order by 1`,
    );
    expect(titles.map((t) => t.title)).toEqual(['ООО «Ромашка-1»', 'ООО «Ромашка-30»']);
    expect(await db.value(`select count(*) from staging.record`)).toBe('30');
  });

  it('is idempotent: landing the same file twice stores each record once', async () => {
    const path = join(dir, 'twice.json');
    writeFileSync(path, JSON.stringify(companies(2500, 1000)));
    const first = await landFile(db.pool, options(path, { batchSize: 1000 }));
    const again = await landFile(db.pool, options(path, { batchSize: 1000 }));
    expect(first.landed).toBe(2500);
    expect(again.landed).toBe(0);
    expect(await countFor(path)).toBe(2500);
    // a changed record is a new version next to the old one
    const changed = companies(2500, 1000);
    changed[0]!.title = 'ООО «Ромашка» (новое название)';
    writeFileSync(path, JSON.stringify(changed));
    expect((await landFile(db.pool, options(path, { batchSize: 1000 }))).landed).toBe(1);
    expect(await db.value(`select count(*) from staging.record where source_key = 'B-1000'`)).toBe('2');
  });

  it('stops at malformed input naming file, record and byte offset, and --resume continues after the landed batches', async () => {
    const path = join(dir, 'broken.ndjson');
    const records = companies(2600, 5000).map((r) => JSON.stringify(r));
    const good = records.join('\n') + '\n';
    const broken = [...records];
    broken[2499] = '{"id": "B-7499", "inn": 7707083893,, "title": "x"}';
    const text = broken.join('\n') + '\n';
    writeFileSync(path, text);
    const byteOffset = Buffer.byteLength(broken.slice(0, 2499).join('\n') + '\n') + '{"id": "B-7499", "inn": 7707083893,'.length;

    const error = await landFile(db.pool, options(path, { batchSize: 1000 })).then(
      () => null,
      (e: Error) => e,
    );
    expect(error?.message).toContain(`${path}: record 2500 at byte ${byteOffset.toLocaleString('en-US').replaceAll(',', ' ')}`);
    expect(error?.message).toContain('line 2500');
    expect(error?.message).toContain('Records 1 to 2 000 are landed');
    expect(await countFor(path)).toBe(2000);

    writeFileSync(path, good);
    const resumed = await landFile(db.pool, options(path, { batchSize: 1000, resume: true }));
    expect(resumed).toMatchObject({ records: 2600, skipped: 2000, landed: 600 });
    expect(await countFor(path)).toBe(2600);
    expect(await db.value(`select count(distinct source_key) from staging.record r join staging.batch b using (batch_id) where origin = $1`, [path])).toBe('2600');
  });

  it('reports a broken JSON array at the right record', async () => {
    const path = join(dir, 'broken-array.json');
    const records = companies(5, 9000).map((r) => JSON.stringify(r));
    writeFileSync(path, `[\n${records.slice(0, 3).join(',\n')},\n{"id": "B-9003" "inn": "1"},\n${records[4]}\n]`);
    const error = await landFile(db.pool, options(path)).then(() => null, (e: Error) => e);
    expect(error?.message).toMatch(/broken-array\.json: record 4 at byte \d+ \(line 5, column \d+\)/);
  });

  it('names the record and byte of text that is not UTF-8, and suggests cp1251', async () => {
    const path = join(dir, 'latin.ndjson');
    const lines = companies(3, 9100).map((r) => Buffer.from(JSON.stringify(r) + '\n'));
    // a Windows-1251 'Ромашка' inside a UTF-8 file
    lines[1] = Buffer.concat([Buffer.from('{"id": "B-9101", "title": "'), iconv.encode('Ромашка', 'win1251'), Buffer.from('"}\n')]);
    writeFileSync(path, Buffer.concat(lines));
    const error = await landFile(db.pool, options(path)).then(() => null, (e: Error) => e);
    const byte = lines[0]!.length + '{"id": "B-9101", "title": "'.length;
    expect(error?.message).toContain(`latin.ndjson: record 2 at byte ${byte} (line 2, column 28): not valid UTF-8 (if the file is Windows-1251, land it with --encoding cp1251)`);
  });

  it('lands records as sent: big numbers exact, U+0000 dropped, change times read as the server reads them', async () => {
    const path = join(dir, 'exact.json');
    const times = [
      '2026-03-01T10:00:00Z',
      '2026-03-01T13:00:00.5+03:00',
      '2026-03-01 13:00:00.123456+0300',
      '2026-03-01T05:30:00-04:30',
      '2026-03-01T13:00:00+03', // an offset in hours only: Date.parse refuses it, the server reads it
      '1500-06-30T23:59:59.999999Z',
      '2026-03-01T10:00:00',
      '2026-03-01',
      '2026-03-01T10:00:00.1234567Z',
    ];
    const lines = times.map((t, i) => `{"id": "B-${9200 + i}", "updated": "${t}", "account": 40702810900000000001, "title": "ab"}`);
    lines.push('{"id": "B-9300", "title": "a\\u0000b"}');
    lines.push('{"id": "B-9301", "updated": "2023-02-29T10:00:00Z"}'); // no such day: no change time, not a failed load
    writeFileSync(path, `[${lines.join(',\n')}]`);
    expect(await landFile(db.pool, options(path))).toMatchObject({ records: times.length + 2, landed: times.length + 2 });
    // compared in a session of the same server: times without an offset are in its zone
    const rows = await db.rows<{ key: string; same: boolean; account: string; title: string }>(
      `select source_key as key, source_updated_at = ($1::text[])[substr(source_key, 3)::int - 9199]::timestamptz as same,
              payload ->> 'account' as account, payload ->> 'title' as title
       from staging.record where source_key like 'B-92%' order by source_key`,
      [times],
    );
    expect(rows).toHaveLength(times.length);
    for (const row of rows) expect(row, row.key).toMatchObject({ same: true, account: '40702810900000000001', title: 'ab' });
    expect(await db.value(`select payload ->> 'title' from staging.record where source_key = 'B-9300'`)).toBe('ab');
    expect(await db.value(`select source_updated_at from staging.record where source_key = 'B-9301'`)).toBeNull();
  });

  it('keeps each record exactly once after kill -9 during landing and a rerun', async () => {
    const path = join(dir, 'big.ndjson');
    writeFileSync(path, companies(60_000, 100_000).map((r) => JSON.stringify(r)).join('\n') + '\n');
    const args = ['land', 'file', path, '--source', 'store_b', '--entity', 'companies', '--batch-size', '500'];
    const { child, done } = startCli(args, db.url);
    // wait until some batches are committed, then kill without warning
    for (let i = 0; i < 600 && (await countFor(path)) < 5000; i++) await new Promise((r) => setTimeout(r, 50));
    child.kill('SIGKILL');
    const killed = await done;
    expect(killed.signal).toBe('SIGKILL');
    const partial = await countFor(path);
    expect(partial).toBeGreaterThan(0);
    expect(partial).toBeLessThan(60_000);

    const rerun = await startCli([...args, '--resume'], db.url).done;
    expect(rerun.code, rerun.stderr).toBe(0);
    expect(await countFor(path)).toBe(60_000);
    expect(await db.value(
      `select count(*) from (select source_key from staging.record r join staging.batch b using (batch_id)
       where origin = $1 group by source_key having count(*) > 1) d`, [path])).toBe('0');
  });
});
