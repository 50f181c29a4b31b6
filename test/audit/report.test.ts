import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildReport, REPORT_CSP } from '../../src/audit/report.js';
import { mysqlSource, registryConfig } from '../../src/config.js';
import { REGISTRY_SNAPSHOT, STORE_A_DUMP } from '../../src/generate/index.js';
import { loadMysqlDump } from '../../src/generate/load-mysql.js';
import { drainQueue } from '../../src/jobs/worker.js';
import { landMysql } from '../../src/land/mysql.js';
import { importSnapshot } from '../../src/registry/snapshot.js';
import { serveEndpoints } from '../../src/service/http.js';
import { runTransform } from '../../src/transform/run.js';
import { runCli } from '../helpers/cli.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { createTestMysql, mysqlAvailable, type TestMysql } from '../helpers/mysql.js';
import { landSample, makeSample } from '../helpers/sample.js';
import { testPortal, type TestPortal } from '../crm/helpers.js';

// The data-quality report: its tables say what SQL counted independently here, its examples'
// commands explain their records, an empty warehouse gets a page that says so, and in a real
// browser (headless Chromium) every chart has its marks and the page asks for nothing.

type Row = string[];

/** A table of the page by id: its heading row and body rows, cell text with tags and entities undone. */
function table(html: string, id: string): { head: Row; rows: Row[] } {
  const match = new RegExp(`<table id="${id}"[^>]*>([\\s\\S]*?)</table>`).exec(html);
  if (!match) throw new Error(`the report has no table #${id}`);
  const text = (cell: string) => cell.replace(/<[^>]+>/g, '').replace(/&#(\d+);/g, (_, code: string) => String.fromCharCode(Number(code))).trim();
  const rows = [...match[1]!.matchAll(/<tr[^>]*>([\s\S]*?)<\/tr>/g)].map((tr) => [...tr[1]!.matchAll(/<t[hd][^>]*>([\s\S]*?)<\/t[hd]>/g)].map((c) => text(c[1]!)));
  return { head: rows[0]!, rows: rows.slice(1) };
}

/** A count as the page writes it: digits grouped by a narrow no-break space. */
function count(cell: string): number {
  expect(cell, `a count written as the page writes counts: ${JSON.stringify(cell)}`).toMatch(/^\d{1,3}(\u202f\d{3})*$/);
  return Number(cell.replaceAll('\u202f', ''));
}

/** The table as { first cell: { column heading: count } }. */
function counts(t: { head: Row; rows: Row[] }): Record<string, Record<string, number>> {
  return Object.fromEntries(t.rows.map((r) => [r[0]!, Object.fromEntries(t.head.slice(1).map((h, i) => [h, count(r[i + 1]!)]))]));
}

/** The INN check digits of DESIGN.md, written again here so the test does not ask etl.inn_is_valid. */
function innIsValid(inn: string | null): boolean {
  if (!inn || !/^(\d{10}|\d{12})$/.test(inn)) return false;
  const d = [...inn].map(Number);
  const check = (weights: number[]) => (weights.reduce((sum, w, i) => sum + w * d[i]!, 0) % 11) % 10;
  if (d.length === 10) return check([2, 4, 10, 3, 5, 9, 4, 6, 8]) === d[9];
  return check([7, 2, 4, 10, 3, 5, 9, 4, 6, 8]) === d[10] && check([3, 7, 2, 4, 10, 3, 5, 9, 4, 6, 8]) === d[11];
}

const label = (r: { entity: string; severity: string; reason: string }) => `${r.entity}: ${r.reason}${r.severity === 'warning' ? ' (warning)' : ''}`;

/** Open rejections per reason label, counted now. */
async function openByReason(db: TestDatabase): Promise<Record<string, number>> {
  const rows = await db.rows<{ entity: string; severity: string; reason: string; n: number }>(
    'select entity, severity, reason, count(*)::int as n from etl.rejection where resolved_at is null group by 1, 2, 3');
  return Object.fromEntries(rows.map((r) => [label(r), r.n]));
}

const available = await mysqlAvailable();

describe.skipIf(!available)('the data-quality report', () => {
  let db: TestDatabase;
  let my: TestMysql;
  let portal: TestPortal;
  let html: string;
  /** Open rejections right after the first transform (before the registry answered) and its run. */
  let before: { run: number; open: Record<string, number> };

  beforeAll(async () => {
    // two sources: store B's files and store A's MySQL tables; then the registry, then a push
    const sample = await makeSample({ scale: 'small', seed: 57, companies: 300, contacts: 900, storeACompanies: 120, storeAContacts: 180, events: 0 });
    db = await createTestDatabase();
    my = await createTestMysql();
    await loadMysqlDump(my.url, join(sample.dir, STORE_A_DUMP));
    await landSample(db.pool, sample);
    await landMysql(db.pool, { url: my.url, source: 'store_a', config: mysqlSource({ sources: { store_a: { mysql: { textEncoding: 'cp1251' } } } }, 'store_a'), quiet: true });
    await runTransform(db.pool);
    before = { run: await db.value<number>('select max(run_id)::int from etl.run'), open: await openByReason(db) };
    await importSnapshot(db.pool, join(sample.dir, REGISTRY_SNAPSHOT));
    await drainQueue({ pool: db.pool, registry: registryConfig({ sources: {}, registry: { provider: 'snapshot', concurrency: 4 } }), log: () => {} });
    await runTransform(db.pool);
    portal = await testPortal(db);
    await portal.push();
    const out = join(tmpdir(), `b2b-etl-report-${process.pid}.html`);
    const run = await runCli(['report', '--out', out], db.url);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toMatch(/^report: wrote .*b2b-etl-report-\d+\.html \(\d+\.\d KiB\)\n$/);
    html = readFileSync(out, 'utf8');
  });
  afterAll(async () => {
    await portal?.stop();
    await my?.drop();
    await db?.drop();
  });

  it('is one page that asks for nothing: no script, no link, no external address; a policy that forbids any request', () => {
    expect(html).toMatch(/^<!doctype html>/);
    expect(html).not.toMatch(/<script|<link|<img|<iframe|@import|url\(/i);
    // the only addresses are the SVG namespace names, which are never fetched
    const addresses = [...html.matchAll(/https?:\/\/[^\s"'<)]+/g)].map((m) => m[0]);
    expect(new Set(addresses)).toEqual(new Set(['http://www.w3.org/2000/svg', 'http://www.w3.org/1999/xlink']));
    expect(html).toContain(`<meta http-equiv="Content-Security-Policy" content="${REPORT_CSP}">`);
    expect(html.match(/<figure class="chart" id="chart-(\w+)"><svg/g)).toHaveLength(7);
  });

  it('counts in its funnel what SQL counts: landed, valid INN, registry ACTIVE, canonical, in the CRM, per source', async () => {
    const landed = await db.rows<{ source: string; source_key: string }>(`select distinct source, source_key from staging.record where entity = 'company'`);
    const cleaned = new Map((await db.rows<{ source: string; source_key: string; inn: string | null; is_accepted: boolean }>(
      'select source, source_key, inn, is_accepted from etl.source_company')).map((r) => [`${r.source}:${r.source_key}`, r]));
    const status = new Map((await db.rows<{ inn: string; status: string | null }>('select inn, status from etl.registry_lookup')).map((r) => [r.inn, r.status]));
    const feeds = new Map((await db.rows<{ key: string; company_id: string }>(
      `select cs.source || ':' || cs.source_key as key, c.company_id from canonical.company_source cs
       join canonical.company c using (company_id) where cs.entity = 'company' and not c.is_deleted`)).map((r) => [r.key, r.company_id]));
    const pushed = new Set((await db.rows<{ id: string }>(`select canonical_id as id from etl.crm_link where entity = 'company' and state = 'linked'`)).map((r) => r.id));
    const expected: Record<string, Record<string, number>> = {};
    for (const { source, source_key } of landed) {
      const key = `${source}:${source_key}`;
      const record = cleaned.get(key);
      const steps = expected[source] ??= { landed: 0, 'valid INN': 0, 'registry ACTIVE': 0, canonical: 0, 'in the CRM': 0 };
      steps.landed!++;
      if (!innIsValid(record?.inn ?? null)) continue;
      steps['valid INN']!++;
      if (status.get(record!.inn!) !== 'ACTIVE') continue;
      steps['registry ACTIVE']!++;
      if (!record!.is_accepted || !feeds.has(key)) continue;
      steps.canonical!++;
      if (pushed.has(feeds.get(key)!)) steps['in the CRM']!++;
    }
    const funnel = table(html, 'table-funnel');
    expect(funnel.head).toEqual(['source', 'landed', 'valid INN', 'registry ACTIVE', 'canonical', 'in the CRM']);
    expect(counts(funnel)).toEqual(expected);
    expect(Object.keys(expected).sort()).toEqual(['store_a', 'store_b']);
    // each step lost someone, and something reached the CRM: the sample exercises every step
    for (const steps of Object.values(expected)) {
      expect(steps.landed).toBeGreaterThan(steps['valid INN']!);
      expect(steps['valid INN']).toBeGreaterThan(steps['registry ACTIVE']!);
      expect(steps['in the CRM']).toBeGreaterThan(0);
    }
  });

  it('counts the open rejections by reason and source, and their trend over the transform runs, as SQL does', async () => {
    const rows = await db.rows<{ entity: string; severity: string; reason: string; source: string; n: number }>(
      'select entity, severity, reason, source, count(*)::int as n from etl.rejection where resolved_at is null group by 1, 2, 3, 4');
    const expected: Record<string, Record<string, number>> = {};
    for (const r of rows) {
      const line = expected[label(r)] ??= { store_a: 0, store_b: 0, total: 0 };
      line[r.source] = r.n;
      line.total! += r.n;
    }
    const rejections = table(html, 'table-rejections');
    expect(rejections.head).toEqual(['reason', 'store_a', 'store_b', 'total']);
    expect(counts(rejections)).toEqual(expected);

    // after the first transform, and now: what was counted at the time
    const trend = counts(table(html, 'table-trend'));
    const runs = await db.rows<{ run_id: number }>('select run_id::int from etl.run where finished_at is not null order by run_id');
    expect(table(html, 'table-trend').head).toEqual(['reason / run', ...runs.map((r) => String(r.run_id))]);
    const at = (run: number) => Object.fromEntries(Object.entries(trend).map(([reason, byRun]) => [reason, byRun[String(run)]!] as const).filter(([, n]) => n > 0));
    expect(at(before.run)).toEqual(before.open);
    expect(at(runs.at(-1)!.run_id)).toEqual(await openByReason(db));
    // the registry's answers came between: they rejected companies that the first runs had let through
    expect(before.open['company: registry_inactive']).toBeUndefined();
    expect(trend['company: registry_inactive']![String(runs.at(-1)!.run_id)]).toBeGreaterThan(0);
  });

  it('shows for each rejection reason a few records, with the why command that tells each one\'s story', async () => {
    const examples = table(html, 'table-examples');
    const reasons = new Map<string, Array<{ subject: string; command: string }>>();
    let group = '';
    for (const r of examples.rows) {
      if (r.length === 1) group = r[0]!;
      else reasons.set(group, [...(reasons.get(group) ?? []), { subject: r[0]!, command: r[3]! }]);
    }
    expect([...reasons.keys()].sort()).toEqual(Object.keys(await openByReason(db)).sort());
    for (const [reason, shown] of reasons) {
      expect(shown.length).toBeGreaterThanOrEqual(1);
      expect(shown.length).toBeLessThanOrEqual(3);
      for (const { subject, command } of shown) {
        expect(command).toBe(`b2b-etl why ${subject}`);
        // what the command prints says this rejection, still open
        const story = await db.rows<{ kind: string; story: string }>('select kind, story from etl.why($1)', [subject]);
        const reasonCode = reason.replace(/^\w+: /, '').replace(/ \(warning\)$/, '');
        expect(story.some((s) => s.kind === 'rejection' && s.story.includes(` ${reasonCode}: `) && s.story.includes('still applies')), `${command}: ${reason}`).toBe(true);
      }
    }
    // and the command runs as written
    const [first] = [...reasons.values()][0]!;
    const why = await runCli(first!.command.split(' ').slice(1), db.url);
    expect(why.code, why.stderr).toBe(0);
    expect(why.stdout).toContain(`${first!.subject} (`);
  });

  it('counts merges by rule, registry statuses and CRM push outcomes as SQL does', async () => {
    const merges = await db.rows<{ entity: string; rule: string; n: number }>('select entity, rule, count(*)::int as n from etl.merge group by 1, 2');
    expect(table(html, 'table-merges').rows.map((r) => [r[0], r[1], count(r[2]!)]).sort())
      .toEqual(merges.map((m) => [m.entity, m.rule, m.n]).sort());
    expect(merges.length).toBeGreaterThan(0);

    const inns = new Set((await db.rows<{ inn: string | null }>('select inn from etl.source_company')).map((r) => r.inn).filter((inn): inn is string => innIsValid(inn)));
    const lookups = new Map((await db.rows<{ inn: string; status: string | null }>('select inn, status from etl.registry_lookup')).map((r) => [r.inn, r.status]));
    const statuses: Record<string, number> = {};
    for (const inn of inns) {
      const status = !lookups.has(inn) ? 'not checked yet' : lookups.get(inn) ?? 'not found';
      statuses[status] = (statuses[status] ?? 0) + 1;
    }
    expect(Object.fromEntries(table(html, 'table-registry').rows.map((r) => [r[0], count(r[1]!)]))).toEqual(statuses);
    expect(statuses.ACTIVE).toBeGreaterThan(0);

    const links = await db.rows<{ entity: string; n: number }>(`select entity, count(*)::int as n from etl.crm_link where state = 'linked' and how = 'created' group by 1`);
    const crm = counts(table(html, 'table-crm'));
    expect(crm).toEqual({ created: { companies: links.find((l) => l.entity === 'company')!.n, contacts: links.find((l) => l.entity === 'contact')!.n,
      deals: links.find((l) => l.entity === 'deal')?.n ?? 0 } });
  });

  it('shows the won revenue per year and store as the deals add it up', async () => {
    const want = await db.rows<{ year: number; store: string; currency: string; deals: number; revenue: string }>(`
      select extract(year from begin_at at time zone 'Europe/Moscow')::int as year, source as store, currency, count(*)::int as deals, sum(amount)::text as revenue
      from canonical.deal where outcome = 'won' and not is_deleted group by 1, 2, 3 order by 1, 2, 3`);
    expect(want.length).toBeGreaterThan(1);
    const rows = table(html, 'table-revenue').rows.map((r) => [Number(r[0]), r[1], r[2], count(r[3]!), Number(r[4]!.replaceAll('\u202f', ''))]);
    expect(rows).toEqual(want.map((w) => [w.year, w.store, w.currency, w.deals, Number(w.revenue)]));
  });

  it('is what the worker serves at /, and the status moved to /status', async () => {
    const endpoints = await serveEndpoints({ host: '127.0.0.1', port: 0, pool: db.pool, metrics: new Registry(), pages: {
      report: () => buildReport(db.pool, new Date('2026-01-02T03:04:00Z')), status: async () => 'healthy' } });
    try {
      const page = await fetch(`${endpoints.url}/`);
      expect(page.status).toBe(200);
      expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
      expect(page.headers.get('content-security-policy')).toBe(REPORT_CSP);
      const served = await page.text();
      expect(served).toContain('Generated 2026-01-02 03:04 UTC');
      expect(table(served, 'table-funnel')).toEqual(table(html, 'table-funnel'));
      expect(await (await fetch(`${endpoints.url}/status`)).text()).toBe('healthy');
    } finally {
      await endpoints.close();
    }
  });

  describe('in headless Chromium', () => {
    const chromium = chromiumPath();
    it.skipIf(!chromium && process.env.REQUIRE_SERVICES !== '1')('renders every chart with its marks, asks for nothing, and leaves a screenshot', async () => {
      if (!chromium) throw new Error(`REQUIRE_SERVICES=1 and no chromium at ${process.env.CHROMIUM_PATH ?? 'PATH'}: apt-get install chromium (or set CHROMIUM_PATH)`);
      const { chromium: launcher } = await import('playwright-core');
      const endpoints = await serveEndpoints({ host: '127.0.0.1', port: 0, pool: db.pool, metrics: new Registry(), pages: { report: () => buildReport(db.pool), status: async () => '' } });
      const browser = await launcher.launch({ executablePath: chromium, args: ['--no-sandbox'] });
      try {
        const context = await browser.newContext({ viewport: { width: 1100, height: 900 } });
        // every request is recorded; anything but the page itself is refused
        const requests: string[] = [];
        await context.route('**/*', (route) => {
          requests.push(route.request().url());
          return route.request().url() === `${endpoints.url}/` ? route.continue() : route.abort();
        });
        const page = await context.newPage();
        const problems: string[] = [];
        page.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') problems.push(m.text()); });
        page.on('pageerror', (e) => problems.push(e.message));
        page.on('requestfailed', (r) => problems.push(`request failed: ${r.url()}`));
        const response = await page.goto(`${endpoints.url}/`, { waitUntil: 'load' });
        expect(response!.status()).toBe(200);
        expect(await page.locator('h1').textContent()).toBe('Data quality');

        const marks = async (chart: string, mark: string) => page.locator(`#chart-${chart} svg g.mark-${mark}.role-mark > path`).count();
        const [bySource, merges, statuses, outcomes, revenueBars] = await Promise.all([
          db.value<number>('select count(*)::int from etl.rejection_by_source'),
          db.value<number>('select count(*)::int from etl.merge_summary'),
          db.value<number>('select count(*)::int from etl.registry_status_summary'),
          db.value<number>('select count(*)::int from etl.crm_outcome'),
          db.value<number>(`select count(*)::int from (select distinct year, store from analytics.revenue_by_company_year where currency = 'RUB' and won_deals > 0) y`),
        ]);
        // a bar per source and step, per reason and source, per rule, per status, per entity and outcome
        expect(await marks('funnel', 'rect')).toBe(2 * 5);
        expect(await marks('rejections', 'rect')).toBe(bySource);
        expect(await marks('merges', 'rect')).toBe(merges);
        expect(await marks('registry', 'rect')).toBe(statuses);
        expect(await marks('crm', 'rect')).toBe(outcomes);
        expect(revenueBars).toBeGreaterThan(1);
        expect(await marks('revenue', 'rect')).toBe(revenueBars);
        // a line per reason, a point per reason and run
        const reasons = await db.value<number>('select count(distinct (entity, severity, reason))::int from etl.rejection_trend');
        const runs = await db.value<number>('select count(*)::int from etl.run where finished_at is not null');
        expect(await marks('trend', 'line')).toBe(reasons);
        expect(await marks('trend', 'symbol')).toBe(reasons * runs);
        // drawn, not just present: each chart has a size on the screen
        for (const chart of ['funnel', 'rejections', 'trend', 'merges', 'registry', 'crm', 'revenue']) {
          const box = await page.locator(`#chart-${chart} svg`).boundingBox();
          expect(box!.width, chart).toBeGreaterThan(300);
          expect(box!.height, chart).toBeGreaterThan(50);
        }
        expect(await page.locator('#table-funnel tbody tr').count()).toBe(2);

        expect(requests).toEqual([`${endpoints.url}/`]);
        expect(problems).toEqual([]);
        mkdirSync('test-results', { recursive: true });
        await page.screenshot({ path: join('test-results', 'report.png'), fullPage: true });
        expect(existsSync(join('test-results', 'report.png'))).toBe(true);
      } finally {
        await browser.close();
        await endpoints.close();
      }
    });
  });
});

describe('the data-quality report of an empty warehouse', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => {
    await db?.drop();
  });

  it('says nothing has landed yet, and what to run, instead of empty charts', async () => {
    const out = join(tmpdir(), `b2b-etl-report-empty-${process.pid}.html`);
    const run = await runCli(['report', '--out', out], db.url);
    expect(run.code, run.stderr).toBe(0);
    const html = readFileSync(out, 'utf8');
    expect(html).toContain('Nothing has landed yet.');
    expect(html).toContain('<code>b2b-etl transform</code>');
    expect(html).not.toContain('<svg');
    expect(html.match(/<section id="\w+"><h2>[^<]+<\/h2><p class="lede">.*?<\/p><p class="empty">/g)).toHaveLength(7); // every chart's section, revenue included
    expect(html).toContain('No company record has landed yet.');
    expect(html).toContain('No transform has run yet.');
    expect(html).toContain('No won deal yet: orders become deals once they land');
  });

  it('says where it could not write, and writes nothing', async () => {
    const run = await runCli(['report', '--out', '/nonexistent-folder/report.html'], db.url);
    expect(run.code).toBe(1);
    expect(run.stderr).toBe('b2b-etl: report: cannot write /nonexistent-folder/report.html: ENOENT; nothing was written\n');
  });
});

/** Debian's chromium, or the browser CHROMIUM_PATH names: the one the page is checked in; undefined when it is not there. */
function chromiumPath(): string | undefined {
  let path = process.env.CHROMIUM_PATH;
  if (!path) {
    try {
      path = execFileSync('sh', ['-c', 'command -v chromium'], { encoding: 'utf8' }).trim();
    } catch {
      return undefined;
    }
  }
  return path && existsSync(path) ? path : undefined;
}
