/** The report's stylesheet, inlined in the page: system fonts, nothing fetched. */
export const REPORT_STYLE = `
:root { color-scheme: light; --ink: #1d2329; --muted: #5d6670; --rule: #dde1e5; --band: #f5f7f9; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink); background: #fff; }
header, main { max-width: 980px; margin: 0 auto; padding: 0 24px; }
header { padding-top: 24px; border-bottom: 1px solid var(--rule); padding-bottom: 12px; }
h1 { font-size: 26px; margin: 0 0 4px; }
h2 { font-size: 20px; margin: 36px 0 4px; }
h3 { font-size: 15px; margin: 20px 0 6px; }
h3.group { font-size: 17px; margin-top: 28px; }
p { margin: 6px 0; }
.meta, .lede { color: var(--muted); }
.notice { background: #fff7e0; border: 1px solid #f0d48a; border-radius: 6px; padding: 10px 14px; }
.empty { background: var(--band); border-radius: 6px; padding: 14px; color: var(--muted); }
nav { margin-top: 10px; font-size: 14px; }
nav a { color: #2463a6; text-decoration: none; }
nav a:hover { text-decoration: underline; }
figure.chart { margin: 14px 0; overflow-x: auto; }
figure.chart svg { max-width: 100%; height: auto; }
table { border-collapse: collapse; margin: 10px 0 4px; font-size: 14px; font-variant-numeric: tabular-nums; }
th, td { text-align: left; padding: 4px 12px 4px 0; border-bottom: 1px solid var(--rule); vertical-align: top; }
thead th { font-weight: 600; border-bottom: 2px solid var(--rule); }
tbody th { font-weight: normal; }
.n { text-align: right; white-space: nowrap; padding-left: 12px; }
table.examples { width: 100%; }
table.examples tr.group th { padding-top: 14px; font-weight: 600; border-bottom: 1px solid var(--ink); }
td.record { white-space: nowrap; }
div.wide { overflow-x: auto; }
table.examples td, table.examples th { font-size: 13px; }
code { font: 13px/1.4 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; background: var(--band); padding: 1px 4px; border-radius: 3px; }
code.command { white-space: nowrap; }
.none { color: var(--muted); font-style: italic; }
@media print { nav { display: none; } h2 { break-before: auto; } section { break-inside: avoid-page; } }
`;
