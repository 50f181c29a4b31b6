import type pg from 'pg';
import type { TopLevelSpec } from 'vega-lite';
import { formatCount } from '../land/progress.js';
import { crmChart, funnelChart, mergeChart, registryChart, rejectionChart, rejectionLabel, renderSvg, revenueChart, STAGE_LABEL, THIN_SPACE, trendChart } from './report-charts.js';
import { reportData, TREND_RUNS, type ReportData } from './report-data.js';
import { REPORT_STYLE } from './report-style.js';

/**
 * The data-quality report: one self-contained HTML page (`b2b-etl report`, the worker's /).
 * Charts are SVG drawn here, styles are inline, and a content security policy forbids the page
 * any request, so it opens the same from a mail attachment on a machine without a network.
 */
export async function buildReport(pool: pg.Pool, now = new Date()): Promise<string> {
  return reportHtml(await reportData(pool), now);
}

type Cell = string | number;

const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const formatNumber = (n: number) => formatCount(n).replaceAll(' ', THIN_SPACE);
/** An amount with its kopecks: 1 234 567.80. */
const formatMoney = (n: number) => n.toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 }).replaceAll(',', THIN_SPACE);
const at = (d: Date) => `${d.toISOString().slice(0, 16).replace('T', ' ')} UTC`;

/** A table of strings and counts; counts (and their column's heading) right-aligned, digits grouped. */
function table(id: string, headers: string[], rows: Cell[][]): string {
  const numeric = headers.map((_, i) => rows.length > 0 && rows.every((r) => typeof r[i] === 'number'));
  const cell = (c: Cell, tag: 'td' | 'th') => (typeof c === 'number' ? `<${tag} class="n">${formatNumber(c)}</${tag}>` : `<${tag}>${escapeHtml(c)}</${tag}>`);
  return `<table id="${id}"><thead><tr>${headers.map((h, i) => `<th scope="col"${numeric[i] ? ' class="n"' : ''}>${escapeHtml(h)}</th>`).join('')}</tr></thead>` +
    `<tbody>${rows.map((r) => `<tr>${r.map((c, i) => cell(c, i === 0 ? 'th' : 'td')).join('')}</tr>`).join('')}</tbody></table>`;
}

/** Rows of (row key, column key, count) as a table: one row per row key, a column per column key, 0 where none. */
function pivot<T>(rows: T[], rowKey: (r: T) => string, columnKey: (r: T) => string, count: (r: T) => number, columns = [...new Set(rows.map(columnKey))]) {
  const byRow = new Map<string, Map<string, number>>();
  for (const r of rows) {
    const line = byRow.get(rowKey(r)) ?? new Map<string, number>();
    line.set(columnKey(r), (line.get(columnKey(r)) ?? 0) + count(r));
    byRow.set(rowKey(r), line);
  }
  return { columns, rows: [...byRow].map(([key, line]) => [key, ...columns.map((c) => line.get(c) ?? 0)] as Cell[]) };
}

interface Section {
  id: string;
  title: string;
  /** One line saying what the chart shows and how to read it. */
  lede: string;
  spec: TopLevelSpec | null;
  /** When there is nothing to draw. */
  empty: string;
  tables: string;
}

async function section(s: Section): Promise<string> {
  const chart = s.spec
    ? `<figure class="chart" id="chart-${s.id}">${await renderSvg(s.spec, s.title)}</figure>${s.tables}`
    : `<p class="empty">${escapeHtml(s.empty)}</p>`;
  return `<section id="${s.id}"><h2>${escapeHtml(s.title)}</h2><p class="lede">${s.lede}</p>${chart}</section>`;
}

export async function reportHtml(d: ReportData, now = new Date()): Promise<string> {
  const sections: Section[] = [funnelSection(d), rejectionSection(d), trendSection(d), mergeSection(d), registrySection(d), crmSection(d), revenueSection(d)];
  const body = (await Promise.all(sections.map(section))).join('\n');
  const state = d.batchesLanded === 0
    ? '<p class="notice">Nothing has landed yet. Land a source (<code>b2b-etl land file</code>, <code>b2b-etl land mysql</code>, ' +
      '<code>b2b-etl consume</code>, or the schedule of <code>b2b-etl worker</code>) and run <code>b2b-etl transform</code>: ' +
      'this page fills in as data arrives.</p>'
    : `<p class="meta">${d.lastRun ? `Last transform: run ${d.lastRun.run_id} (${escapeHtml(d.lastRun.kind)}), finished ${at(d.lastRun.finished_at)}.`
      : 'No transform has run yet: <code>b2b-etl transform</code> turns what landed into the clean base.'}</p>`;
  const nav = sections.map((s) => `<a href="#${s.id}">${escapeHtml(s.title)}</a>`).join(' · ');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="${REPORT_CSP}">
<title>b2b-etl data quality, ${at(now)}</title>
<style>${REPORT_STYLE}</style>
</head>
<body>
<header><h1>Data quality</h1><p class="meta">Generated ${at(now)} from the warehouse's views (sql/audit/report.sql): ` +
  `each table below can be queried as it is shown.</p>${state}<nav>${nav}</nav></header>
<main>
${body}
</main>
</body>
</html>
`;
}

/** Nothing but inline styles, inline SVG and data: images: the page asks for nothing. */
export const REPORT_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'";

function funnelSection(d: ReportData): Section {
  const stages = [...new Map(d.funnel.map((r) => [r.step, r.stage])).entries()].sort((a, b) => a[0] - b[0]).map(([, s]) => s);
  const t = pivot(d.funnel, (r) => r.source, (r) => r.stage, (r) => r.records, stages);
  return {
    id: 'funnel', title: 'Funnel per source',
    lede: 'How many company records of each source get how far: landed, with a valid INN, active in the registry, in the canonical base, in the CRM. ' +
      'Each step keeps only records that passed the one before (<code>etl.source_funnel</code>).',
    spec: d.funnel.length ? funnelChart(d.funnel) : null,
    empty: 'No company record has landed yet.',
    tables: table('table-funnel', ['source', ...t.columns.map((s) => STAGE_LABEL[s] ?? s)], t.rows),
  };
}

function rejectionSection(d: ReportData): Section {
  const sources = [...new Set(d.rejections.map((r) => r.source))].sort();
  const t = pivot(d.rejections, rejectionLabel, (r) => r.source, (r) => r.records, sources);
  const rows = t.rows.map((r) => [...r, (r.slice(1) as number[]).reduce((a, b) => a + b, 0)]).sort((a, b) => (b.at(-1) as number) - (a.at(-1) as number));
  return {
    id: 'rejections', title: 'Rejections by reason and source',
    lede: 'Records dropped (errors) or a field of them emptied (warnings) and still so after the last transform, by reason, ' +
      'split by source (<code>etl.rejection_by_source</code>). Examples of each reason follow the table.',
    spec: d.rejections.length ? rejectionChart(d.rejections) : null,
    empty: d.batchesLanded ? 'No open rejections: every landed record passed.' : 'No rejections yet.',
    tables: table('table-rejections', ['reason', ...sources, 'total'], rows) + examples(d),
  };
}

function examples(d: ReportData): string {
  const reasons = new Map<string, ReportData['examples']>();
  for (const e of d.examples) reasons.set(rejectionLabel(e), [...(reasons.get(rejectionLabel(e)) ?? []), e]);
  if (reasons.size === 0) return '';
  const groups = [...reasons].map(([reason, rows]) => `<tbody><tr class="group"><th colspan="4" scope="rowgroup">${escapeHtml(reason)}</th></tr>` +
    rows.map((e) => `<tr><td class="record">${escapeHtml(e.subject)}</td>` +
      `<td>${e.value === null ? '<span class="none">none</span>' : `<code>${escapeHtml(e.value)}</code>`}</td>` +
      `<td>${escapeHtml(e.detail)}</td><td><code class="command">${escapeHtml(e.why_command)}</code></td></tr>`).join('') + '</tbody>');
  return '<h3 id="examples">Examples</h3><p>The newest records rejected for each reason, and the command that tells each one\'s whole story ' +
    '(<code>etl.rejection_example</code>).</p><table id="table-examples" class="examples"><thead><tr><th scope="col">record</th>' +
    `<th scope="col">value</th><th scope="col">why</th><th scope="col">what explains it</th></tr></thead>${groups.join('')}</table>`;
}

function trendSection(d: ReportData): Section {
  const runs = [...new Map(d.trend.map((r) => [r.run_id, r])).values()];
  const t = pivot(d.trend, rejectionLabel, (r) => String(r.run_id), (r) => r.open, runs.map((r) => String(r.run_id)));
  const span = runs.length ? `Columns: transform runs ${runs[0]!.run_id} (finished ${at(runs[0]!.finished_at)}) to ${runs.at(-1)!.run_id} (finished ${at(runs.at(-1)!.finished_at)}).` : '';
  return {
    id: 'trend', title: 'Rejections over transform runs',
    lede: `Open rejections by reason right after each of the last ${TREND_RUNS} transform runs, all sources together (<code>etl.rejection_trend</code>): ` +
      'a line that climbs is a problem arriving with new data; one that falls, data fixed at its source.',
    spec: d.trend.length ? trendChart(d.trend) : null,
    empty: d.lastRun ? 'No record has been rejected in any transform run.' : 'No transform has run yet.',
    tables: `<div class="wide">${table('table-trend', ['reason / run', ...t.columns], t.rows.sort((a, b) => String(a[0]).localeCompare(String(b[0]))))}</div>` +
      `<p class="meta">${span}</p>`,
  };
}

function mergeSection(d: ReportData): Section {
  return {
    id: 'merges', title: 'Merges by rule',
    lede: 'Source records that joined a canonical company with the same INN, and contacts of one company merged because they share a phone or an e-mail ' +
      '(<code>etl.merge_summary</code>).',
    spec: d.merges.length ? mergeChart(d.merges) : null,
    empty: 'No merges yet.',
    tables: table('table-merges', ['entity', 'rule', 'merges'], d.merges.map((r) => [r.entity, r.rule, r.merges])),
  };
}

function registrySection(d: ReportData): Section {
  return {
    id: 'registry', title: 'Registry statuses',
    lede: 'What the state registry said of the distinct valid INNs landed: only ACTIVE companies go on to the CRM; "not checked yet" waits for a ' +
      'registry check (<code>etl.registry_status_summary</code>).',
    spec: d.registry.length ? registryChart(d.registry) : null,
    empty: 'No valid INN has landed yet.',
    tables: table('table-registry', ['status', 'INNs'], d.registry.map((r) => [r.status, r.inns])),
  };
}

function crmSection(d: ReportData): Section {
  const portals = new Set(d.crm.map((r) => r.portal));
  const t = pivot(d.crm, (r) => (portals.size > 1 ? `${r.portal}: ${r.outcome}` : r.outcome), (r) => r.entity, (r) => r.records, ['company', 'contact', 'deal']);
  return {
    id: 'crm', title: 'CRM push outcomes',
    lede: `What the pushes made of the clean base in ${portals.size === 1 ? `the portal ${escapeHtml([...portals][0]!)}` : 'each portal'}: ` +
      'created, adopted (a company already in the CRM with the same INN), failed, sent with no answer yet, deleted there by a manager, ' +
      'and ready but not pushed yet (<code>etl.crm_outcome</code>).',
    spec: d.crm.length ? crmChart(d.crm) : null,
    empty: 'Nothing has been pushed to a CRM yet: b2b-etl push, or the worker, sends the companies ready for it.',
    tables: table('table-crm', [portals.size > 1 ? 'portal: outcome' : 'outcome', 'companies', 'contacts', 'deals'], t.rows),
  };
}

function revenueSection(d: ReportData): Section {
  return {
    id: 'revenue', title: 'Revenue per year and store',
    lede: 'Won deals\' revenue per year the order was placed (Moscow time) and store, in roubles on the chart and in every currency in the table ' +
      '(<code>analytics.revenue_by_company_year</code>, per company; <code>analytics.customer</code> per customer).',
    spec: d.revenue.some((r) => r.currency === 'RUB') ? revenueChart(d.revenue) : null,
    empty: 'No won deal yet: orders become deals once they land and their companies are in the clean base.',
    tables: table('table-revenue', ['year', 'store', 'currency', 'won deals', 'revenue'],
      d.revenue.map((r) => [String(r.year), r.store, r.currency, r.won_deals, formatMoney(r.revenue)])),
  };
}
