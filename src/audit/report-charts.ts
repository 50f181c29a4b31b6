import type { TopLevelSpec } from 'vega-lite';
import type { CrmRow, FunnelRow, MergeRow, RegistryRow, RejectionRow, TrendRow, RevenueRow } from './report-data.js';

/**
 * The report's charts as Vega-Lite specs, rendered to SVG here on the server: the page carries
 * the pictures, not a charting library, so it opens anywhere without a network.
 */

/** Digits grouped by a narrow no-break space (U+202F), as the tables beside the charts write them. */
export const THIN_SPACE = '\u202f';

const WIDTH = 560;

const config: TopLevelSpec['config'] = {
  font: 'system-ui, -apple-system, "Segoe UI", Roboto, sans-serif',
  locale: { number: { decimal: '.', thousands: THIN_SPACE, grouping: [3], currency: ['', ''] } },
  view: { stroke: null },
  axis: { labelFontSize: 12, titleFontSize: 12, titleFontWeight: 'normal', labelLimit: 400 },
  legend: { labelFontSize: 12, titleFontSize: 12, orient: 'bottom', labelLimit: 400 },
  bar: { discreteBandSize: { band: 0.8 } },
};

const countAxis = (title: string) => ({ title, format: ',d', tickMinStep: 1 });

/** The stages of etl.source_funnel as people say them. */
export const STAGE_LABEL: Record<string, string> = {
  landed: 'landed',
  valid_inn: 'valid INN',
  registry_active: 'registry ACTIVE',
  canonical: 'canonical',
  in_crm: 'in the CRM',
};

export const rejectionLabel = (r: { entity: string; severity: string; reason: string }) =>
  `${r.entity}: ${r.reason}${r.severity === 'warning' ? ' (warning)' : ''}`;

/** Company records per source reaching each step; one bar per source within each step. */
export function funnelChart(rows: FunnelRow[]): TopLevelSpec {
  const values = rows.map((r) => ({ source: r.source, step: r.step, stage: STAGE_LABEL[r.stage] ?? r.stage, records: r.records }));
  const stages = [...new Map(rows.map((r) => [r.step, STAGE_LABEL[r.stage] ?? r.stage])).entries()].sort((a, b) => a[0] - b[0]).map(([, s]) => s);
  return {
    config, width: WIDTH, data: { values },
    encoding: {
      y: { field: 'stage', type: 'nominal', sort: stages, title: null },
      yOffset: { field: 'source', type: 'nominal' },
      x: { field: 'records', type: 'quantitative', axis: countAxis('company records') },
      color: { field: 'source', type: 'nominal', title: 'source' },
    },
    layer: [
      { mark: { type: 'bar' } },
      { mark: { type: 'text', align: 'left', dx: 3, fontSize: 11 }, encoding: { text: { field: 'records', type: 'quantitative', format: ',d' }, color: { value: '#333' } } },
    ],
  };
}

/** Open rejections per reason, the bar split by source, longest first. */
export function rejectionChart(rows: RejectionRow[]): TopLevelSpec {
  const values = rows.map((r) => ({ reason: rejectionLabel(r), source: r.source, records: r.records }));
  return {
    config, width: WIDTH, data: { values },
    mark: { type: 'bar' },
    encoding: {
      y: { field: 'reason', type: 'nominal', sort: longestFirst(values, 'reason', 'records'), title: null },
      x: { field: 'records', type: 'quantitative', aggregate: 'sum', axis: countAxis('open rejections') },
      color: { field: 'source', type: 'nominal', title: 'source' },
    },
  };
}

/** Open rejections per reason after each transform run. */
export function trendChart(rows: TrendRow[]): TopLevelSpec {
  const values = rows.map((r) => ({ run: r.run_id, reason: rejectionLabel(r), open: r.open }));
  return {
    config, width: WIDTH, height: 240, data: { values },
    mark: { type: 'line', point: true, interpolate: 'step-after' },
    encoding: {
      x: { field: 'run', type: 'ordinal', title: 'transform run', axis: { labelAngle: 0 } },
      y: { field: 'open', type: 'quantitative', axis: countAxis('open rejections') },
      color: { field: 'reason', type: 'nominal', title: null, scale: { scheme: 'tableau20' }, legend: { columns: 2 } },
    },
  };
}

export function mergeChart(rows: MergeRow[]): TopLevelSpec {
  const values = rows.map((r) => ({ rule: `${r.entity}: ${r.rule}`, entity: r.entity, merges: r.merges }));
  return barChart(values, 'rule', 'merges', 'merges', 'entity');
}

export function registryChart(rows: RegistryRow[]): TopLevelSpec {
  const values = rows.map((r) => ({ status: r.status, inns: r.inns, kind: r.status === 'ACTIVE' ? 'active' : /^[A-Z]/.test(r.status) ? 'not active' : 'no answer' }));
  const spec = barChart(values, 'status', 'inns', 'INNs', 'kind');
  return { ...spec, encoding: { ...spec.encoding, color: { field: 'kind', type: 'nominal', title: null,
    scale: { domain: ['active', 'not active', 'no answer'], range: ['#4c9a5b', '#d1603d', '#a0a0a0'] } } } } as TopLevelSpec;
}

/** What the pushes made of each entity; one bar per entity within each outcome (portal and outcome when there are several portals). */
export function crmChart(rows: CrmRow[]): TopLevelSpec {
  const portals = new Set(rows.map((r) => r.portal));
  const values = rows.map((r) => ({ outcome: portals.size > 1 ? `${r.portal}: ${r.outcome}` : r.outcome, entity: r.entity, records: r.records }));
  const spec = barChart(values, 'outcome', 'records', 'records', 'entity');
  return { ...spec, encoding: { ...spec.encoding, yOffset: { field: 'entity', type: 'nominal' } } } as TopLevelSpec;
}

/** Won revenue in roubles per year, a bar per store within each year. */
export function revenueChart(rows: RevenueRow[]): TopLevelSpec {
  const values = rows.filter((r) => r.currency === 'RUB').map((r) => ({ year: String(r.year), store: r.store, revenue: r.revenue }));
  return {
    config, width: WIDTH, height: 240, data: { values },
    mark: { type: 'bar' },
    encoding: {
      x: { field: 'year', type: 'ordinal', title: null, axis: { labelAngle: 0 } },
      xOffset: { field: 'store', type: 'nominal' },
      y: { field: 'revenue', type: 'quantitative', axis: { title: 'won revenue, RUB', format: '~s', grid: true } },
      color: { field: 'store', type: 'nominal', title: null },
    },
  } as TopLevelSpec;
}

/** The categories by their total, largest first (an explicit order: layers sorted by an aggregate disagree). */
function longestFirst(values: Array<Record<string, string | number>>, category: string, count: string): string[] {
  const totals = new Map<string, number>();
  for (const v of values) totals.set(String(v[category]), (totals.get(String(v[category])) ?? 0) + Number(v[count]));
  return [...totals].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])).map(([c]) => c);
}

type BarSpec = TopLevelSpec & { encoding: Record<string, unknown> };

/** Bars longest first, each with its count at its end. */
function barChart(values: Array<Record<string, string | number>>, category: string, count: string, title: string, colour: string): BarSpec {
  return {
    config, width: WIDTH, data: { values },
    encoding: {
      y: { field: category, type: 'nominal', sort: longestFirst(values, category, count), title: null },
      x: { field: count, type: 'quantitative', axis: countAxis(title) },
      color: { field: colour, type: 'nominal', title: null },
    },
    layer: [
      { mark: { type: 'bar' } },
      { mark: { type: 'text', align: 'left', dx: 3, fontSize: 11 }, encoding: { text: { field: count, type: 'quantitative', format: ',d' }, color: { value: '#333' } } },
    ],
  } as unknown as BarSpec;
}

/**
 * The chart as SVG markup. vega and vega-lite are loaded on first use: every other command
 * starts without them.
 */
export async function renderSvg(spec: TopLevelSpec, description: string): Promise<string> {
  const [vega, vegaLite] = await Promise.all([import('vega'), import('vega-lite')]);
  const compiled = vegaLite.compile({ ...spec, description } as TopLevelSpec).spec;
  // no loader: the data is inline, and the page must never reach for anything
  const view = new vega.View(vega.parse(compiled), { renderer: 'none', loader: refusingLoader(vega) });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

function refusingLoader(vega: typeof import('vega')) {
  const loader = vega.loader();
  loader.load = async (uri: string) => {
    throw new Error(`the report's charts carry their data inline; a chart asked to load ${uri}`);
  };
  return loader;
}
