// The push at seed scale, one run on this machine: store B's files (and store A from MariaDB
// when MYSQL_URL is set) landed, transformed and checked against the sample's registry
// snapshot, then every ready company and its contacts pushed to a sandbox portal at the
// standard plan (a bucket of 50) with its drain raised so the run fits in minutes. The push
// runs in a process of its own, as `b2b-etl push` would, the sandbox in this one.
// Prints figures; asserts nothing.
// Usage: DATABASE_URL=... [MYSQL_URL=...] node dist/bench/crm-push.js
//   [--drain 20] [--import-cost 0.001] [--concurrency 6] [--limit N] [--fresh] [--cpu-prof]
// --drain: the sandbox's (and the pusher's) requests a second; --import-cost: the sandbox's
// simulated operating seconds per imported item; --limit: at most N companies (a quick
// look); --fresh: land and transform again instead of reusing b2b_etl_bench_crm; --cpu-prof:
// the push process writes a CPU profile into bench/out/profile.
import { fork } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { mysqlSource, registryConfig } from '../src/config.js';
import { DOCS_IMPORT_SECONDS_PER_ITEM } from '../src/crm/estimate.js';
import { push, type PushResult } from '../src/crm/push.js';
import { PLAN_LIMITS } from '../src/crm/pacing.js';
import { startSandbox } from '../src/sandbox/index.js';
import { REGISTRY_SNAPSHOT, STORE_A_DUMP } from '../src/generate/index.js';
import { landManifest, useSampleWindow } from '../src/generate/land-manifest.js';
import { migrate } from '../src/db/migrate.js';
import { drainQueue } from '../src/jobs/worker.js';
import { landMysql } from '../src/land/mysql.js';
import { importSnapshot } from '../src/registry/snapshot.js';
import { runTransform } from '../src/transform/run.js';
import { OUT, benchPool, dropRunDatabases, keepDatabase, machineCpuSeconds, mariadbWithDump, newDatabase, processCpuSeconds, sampleAt, seconds, serverUrl, timed, withDatabase } from './common.js';

const { values: flags } = parseArgs({
  options: {
    drain: { type: 'string', default: '20' },
    'import-cost': { type: 'string', default: '0.001' },
    // drain × a batch's time at the sandbox: about 20 × 0.3 s
    concurrency: { type: 'string', default: '6' },
    limit: { type: 'string' },
    fresh: { type: 'boolean', default: false },
    'cpu-prof': { type: 'boolean', default: false },
    'push-process': { type: 'boolean', default: false },
  },
});
const drain = Number(flags.drain);
const importCost = Number(flags['import-cost']);
const concurrency = Number(flags.concurrency);
const limit = flags.limit === undefined ? undefined : Number(flags.limit);
const standard = PLAN_LIMITS.standard;
/** A prepared warehouse is kept for later runs under this prefix, named for the run that prepared it. */
const WAREHOUSE = 'b2b_etl_bench_crm_warehouse';
const PORTAL = 'b2b_etl_bench_crm_portal';
/** Requests in the first seconds are the warm-up: refusals there are counted apart. */
const WARM_UP_SECONDS = 10;

interface PushReport {
  result: PushResult;
  maxRssKb: number;
  cpuSeconds: number;
}

/** The push itself, in its own process: its peak memory and CPU are its own. */
async function pushProcess(): Promise<void> {
  process.on('disconnect', () => process.exit(1)); // the benchmark (and its sandbox) is gone
  const pool = new pg.Pool({ connectionString: process.env.BENCH_WAREHOUSE_URL, max: 8, application_name: 'b2b-etl push' });
  const result = await push(pool, {
    webhookUrl: process.env.BITRIX24_WEBHOOK_URL, ca: process.env.BENCH_CA, plan: 'standard', limits: { drain }, concurrency, limit,
    log: (line) => process.stderr.write(`${line}\n`), progressSeconds: 30,
  });
  await pool.end();
  const cpu = process.cpuUsage();
  const report: PushReport = { result, maxRssKb: process.resourceUsage().maxRSS, cpuSeconds: (cpu.user + cpu.system) / 1e6 };
  process.send!(report, () => process.exit(0));
}

async function main(): Promise<void> {
  const { name: warehouseDatabase, url: warehouseUrl } = await preparedWarehouse();
  const warehouse = new pg.Pool({ connectionString: warehouseUrl, max: 2 });
  // the push starts from nothing: no links, no pacing state
  await warehouse.query('truncate etl.crm_link, etl.crm_push_error, etl.crm_push_run, etl.crm_pacing, etl.crm_operating, etl.crm_portal_address, etl.crm_portal');
  const { rows: [ready] } = await warehouse.query<{ companies: string; contacts: string }>(
    'select (select count(*) from etl.crm_company_out) as companies, (select count(*) from etl.crm_contact_out) as contacts');

  const { name: portalDatabase, url: portalUrl } = await newDatabase(PORTAL);
  const sandbox = await startSandbox({
    databaseUrl: portalUrl, plan: 'standard', bucket: { size: standard.size, drainPerSecond: drain }, operating: { importItemSeconds: importCost },
  });
  const portal = new pg.Pool({ connectionString: portalUrl, max: 2, options: '-c search_path=bitrix_sandbox' });

  console.log(`\npush of ${Number(ready!.companies).toLocaleString('en-US')} ready companies and ${Number(ready!.contacts).toLocaleString('en-US')} contacts` +
    `${limit ? ` (at most ${limit} companies: --limit)` : ''} to the sandbox portal: standard plan (bucket ${standard.size}) draining ${drain}/s, ` +
    `import cost ${importCost} s per item; pusher concurrency ${concurrency} (push --concurrency, default 2)`);
  const cpu = new CpuWatch([warehouseDatabase, portalDatabase]);
  const sandboxCpu = process.cpuUsage();
  const [report, wall] = await timed(() => runPushProcess(warehouseUrl, sandbox.webhookUrl, sandbox.certFile));
  const sandboxCpuUsed = process.cpuUsage(sandboxCpu);
  const backends = await cpu.stop();
  await sandbox.stop();

  const figures = await portalFigures(portal);
  await portal.end();
  await warehouse.end();
  print(report, wall, figures, backends, (sandboxCpuUsed.user + sandboxCpuUsed.system) / 1e6, { warehouse: warehouseDatabase, portal: portalDatabase });
  await dropRunDatabases();
}

/**
 * The bench warehouse with the sample landed, transformed and checked against the
 * registry snapshot (as `b2b-etl demo` does it); made once and reused unless --fresh: the
 * newest database an earlier run of this benchmark prepared and marked (public.bench_prepared)
 * is reused, never dropped; --fresh prepares a new one of this run's own, kept for later runs.
 */
async function preparedWarehouse(): Promise<{ name: string; url: string }> {
  if (!flags.fresh) {
    const admin = new pg.Client({ connectionString: serverUrl() });
    await admin.connect();
    const { rows: candidates } = await admin.query<{ datname: string }>(
      `select datname from pg_database where datname like $1 order by datname desc`, [`${WAREHOUSE}\\_%`]).finally(() => admin.end());
    for (const { datname } of candidates) {
      const url = withDatabase(serverUrl(), datname);
      const probe = new pg.Client({ connectionString: url });
      const prepared = await probe.connect()
        .then(() => probe.query<{ note: string }>('select note from public.bench_prepared'))
        .then((r) => r.rows[0]?.note ?? null, () => null);
      await probe.end().catch(() => {});
      if (prepared) {
        console.log(`reusing ${datname}: ${prepared} (--fresh prepares a new one)`);
        return { name: datname, url };
      }
    }
  }
  const sample = await sampleAt('seed', { scale: 'seed', seed: 1 });
  const { name, url } = await newDatabase(WAREHOUSE);
  await migrate(url);
  const pool = benchPool(url, 8);
  const [, prepareSeconds] = await timed(async () => {
    await useSampleWindow(pool, sample.truth.window_start);
    await landManifest(pool, sample.dir, sample.manifest, { quiet: true });
    if (process.env.MYSQL_URL) {
      const storeA = await mariadbWithDump('b2b_etl_bench_crm_store_a', join(sample.dir, STORE_A_DUMP));
      await landMysql(pool, { url: storeA.url, source: 'store_a', config: mysqlSource({ sources: {} }, 'store_a'), full: true, quiet: true });
    } else {
      console.log('MYSQL_URL is not set: store A is left out, the push covers store B only');
    }
    await runTransform(pool);
    await importSnapshot(pool, join(sample.dir, REGISTRY_SNAPSHOT));
    await drainQueue({ pool, registry: registryConfig({ sources: {}, registry: { provider: 'snapshot', concurrency: 8 } }), log: () => {} });
    await runTransform(pool);
  });
  const note = `seed sample, store B${process.env.MYSQL_URL ? ' and store A' : ' only'}, prepared ${new Date().toISOString()}`;
  await pool.query('create table public.bench_prepared (note text not null)');
  await pool.query('insert into public.bench_prepared values ($1)', [note]);
  await pool.end();
  keepDatabase(name); // prepared: later runs reuse it
  console.log(`prepared ${name} in ${seconds(prepareSeconds)}: ${note}`);
  return { name, url };
}

function runPushProcess(warehouseUrl: string, webhookUrl: string, certFile: string | null): Promise<PushReport> {
  const child = fork(process.argv[1]!, [...process.argv.slice(2), '--push-process'], {
    execArgv: flags['cpu-prof'] ? ['--cpu-prof', `--cpu-prof-dir=${join(OUT, 'profile')}`] : [],
    env: { ...process.env, BENCH_WAREHOUSE_URL: warehouseUrl, BITRIX24_WEBHOOK_URL: webhookUrl, BENCH_CA: certFile ? readFileSync(certFile, 'utf8') : '' },
  });
  return new Promise((resolve, reject) => {
    let report: PushReport | undefined;
    child.on('message', (m) => (report = m as PushReport));
    child.on('exit', (code) => (report ? resolve(report) : reject(new Error(`the push process exited with code ${code} and no figures`))));
  });
}

interface PortalFigures {
  requests: number;
  answered: number;
  /** Commands the portal ran: each command of an answered batch, each answered single call. */
  commands: number;
  /** First request to the end of the last one, seconds; and the same for the contacts' part. */
  span: number;
  contactSpan: number;
  contactCommands: number;
  contactRequests: number;
  refusedBucket: number;
  refusedOperating: number;
  refusedAfterWarmUp: number;
  /** Seconds the sandbox spent answering, summed over requests. */
  serving: number;
  /** Seconds with no request in flight at the portal. */
  idle: number;
  companies: number;
  contacts: number;
  imported: number;
  requisites: number;
  bankDetails: number;
  addresses: number;
  reads: number;
  companyDuplicates: number;
  contactDuplicates: number;
  innDuplicates: number;
}

/** What the portal received and holds, from its call log and tables. */
async function portalFigures(portal: pg.Pool): Promise<PortalFigures> {
  const { rows: [f] } = await portal.query<Record<keyof PortalFigures, string>>(`
    with answered as (
      select c.*, c.at + c.seconds * interval '1 second' as done_at,
        (select count(*) from call_command k where k.call_id = c.id) as inner_commands
      from call c
    ),
    calls as (
      select a.*, max(done_at) over (order by at, id rows between unbounded preceding and 1 preceding) as before_done
      from answered a
    ),
    contact_start as (
      select min(c.at) as at from call c join call_command k on k.call_id = c.id
      where k.method = 'crm.item.batchimport' and k.params ->> 'entityTypeId' = '3'
    )
    select count(*) as requests,
      count(*) filter (where status = 200) as answered,
      coalesce(sum(case when method = 'batch' then inner_commands else 1 end) filter (where status = 200), 0) as commands,
      extract(epoch from max(done_at) - min(at)) as span,
      coalesce(extract(epoch from max(done_at) - (select at from contact_start)), 0) as contact_span,
      coalesce(sum(inner_commands) filter (where status = 200 and at >= (select at from contact_start)), 0) as contact_commands,
      count(*) filter (where status = 200 and at >= (select at from contact_start)) as contact_requests,
      count(*) filter (where status = 503) as refused_bucket,
      count(*) filter (where status = 429) as refused_operating,
      count(*) filter (where status in (503, 429) and at > (select min(at) from call) + make_interval(secs => $1)) as refused_after_warm_up,
      coalesce(sum(seconds), 0) as serving,
      coalesce(sum(greatest(extract(epoch from at - before_done), 0)), 0) as idle,
      (select count(*) from company) as companies,
      (select count(*) from contact) as contacts,
      (select count(*) from company where created_via = 'import') + (select count(*) from contact where created_via = 'import') as imported,
      (select count(*) from requisite) as requisites,
      (select count(*) from bank_detail) as bank_details,
      (select count(*) from address) as addresses,
      (select count(*) from call_command k join call c on c.id = k.call_id
        where c.status = 200 and (k.method like '%.list' or k.method like '%.get' or k.method = 'crm.duplicate.findbycomm')) as reads,
      (select count(*) from (select origin_id from company where origin_id is not null group by origin_id having count(*) > 1) d) as company_duplicates,
      (select count(*) from (select origin_id from contact where origin_id is not null group by origin_id having count(*) > 1) d) as contact_duplicates,
      (select count(*) from (select rq_inn from requisite where entity_type_id = 4 group by rq_inn having count(distinct entity_id) > 1) d) as inn_duplicates
    from calls`, [WARM_UP_SECONDS]);
  return Object.fromEntries(Object.entries(f!).map(([k, v]) => [k.replace(/_(.)/g, (_, c: string) => c.toUpperCase()), Number(v)])) as unknown as PortalFigures;
}

/**
 * CPU used meanwhile by PostgreSQL's backends, per database (sampled each second from
 * /proc: a backend's time since it was first seen, or since it started when it appeared
 * later), and by the whole machine.
 */
class CpuWatch {
  private readonly seen = new Map<number, { database: string; first: number; last: number }>();
  private readonly machineAtStart = machineCpuSeconds();
  private readonly client = new pg.Client({ connectionString: serverUrl() });
  private readonly ready: Promise<void>;
  private timer: NodeJS.Timeout | undefined;
  private started = false;

  constructor(private readonly databases: string[]) {
    this.ready = this.client.connect().then(() => this.sample()).then(() => {
      this.started = true;
      this.timer = setInterval(() => void this.sample().catch(() => {}), 1000);
    });
  }

  private async sample(): Promise<void> {
    const { rows } = await this.client.query<{ pid: number; datname: string }>(
      'select pid, datname from pg_stat_activity where datname = any($1) and pid <> pg_backend_pid()', [this.databases]);
    for (const { pid, datname } of rows) {
      const cpu = processCpuSeconds(pid);
      if (cpu === null) continue;
      const known = this.seen.get(pid);
      if (known) known.last = cpu;
      else this.seen.set(pid, { database: datname, first: this.started ? 0 : cpu, last: cpu });
    }
  }

  async stop(): Promise<{ byDatabase: Map<string, number>; machine: number }> {
    await this.ready;
    clearInterval(this.timer);
    await this.sample();
    await this.client.end();
    const byDatabase = new Map<string, number>();
    for (const b of this.seen.values()) byDatabase.set(b.database, (byDatabase.get(b.database) ?? 0) + b.last - b.first);
    return { byDatabase, machine: machineCpuSeconds() - this.machineAtStart };
  }
}

function print(report: PushReport, wall: number, p: PortalFigures, cpu: { byDatabase: Map<string, number>; machine: number }, sandboxCpu: number,
  databases: { warehouse: string; portal: string }): void {
  const { result } = report;
  const n = (x: number) => Math.round(x).toLocaleString('en-US');
  const s = result.stats;
  const ceiling = drain * standard.size;
  const rate = (count: number, over: number) => (over > 0 ? count / over : 0);
  const entities = s.company.created + s.company.adopted + s.contact.created + s.contact.adopted;
  const companyCommands = p.commands - p.contactCommands;
  const companySpan = p.span - p.contactSpan;
  const importBound = (p.imported * DOCS_IMPORT_SECONDS_PER_ITEM) / (standard.operatingLimit / standard.operatingWindow);
  // add mode: one command per company, requisite, bank detail, address and contact, the same reads, full batches at best
  const addCommands = p.companies + p.requisites + p.bankDetails + p.addresses + p.contacts + p.reads;
  const addRequests = Math.ceil(addCommands / standard.size);
  const realTime = (requests: number, perSecond: number) => requests / perSecond;
  const lines = [
    '',
    `2 cores shared with other work on this machine: the figures move from run to run.`,
    `push: ${n(s.company.created)} companies created, ${n(s.company.adopted)} adopted, ${n(s.company.failed)} failed; ` +
      `${n(s.contact.created)} contacts created, ${n(s.contact.adopted)} adopted, ${n(s.contact.failed)} failed; ` +
      `${n(s.unknownOutcomes)} answers lost; in ${seconds(wall)} wall (the push's own figure ${seconds(result.seconds)})`,
    `commands: ${n(p.commands)} in ${seconds(p.span)} at the portal (first request to the end of the last) = ${rate(p.commands, p.span).toFixed(1)}/s ` +
      `against the plan's ceiling ${ceiling}/s (drain ${drain} × ${standard.size}): ${((rate(p.commands, p.span) / ceiling) * 100).toFixed(1)}% (target ≥ 90%)`,
    `  companies' part: ${n(companyCommands)} commands in ${seconds(companySpan)} = ${rate(companyCommands, companySpan).toFixed(1)}/s ` +
      `(${((rate(companyCommands, companySpan) / ceiling) * 100).toFixed(1)}%); contacts' part: ${n(p.contactCommands)} commands (${n(p.contactCommands * 20)} contacts at most, 20 an import) ` +
      `in ${n(p.contactRequests)} requests, ${seconds(p.contactSpan)} = ${rate(p.contactCommands, p.contactSpan).toFixed(1)}/s (${((rate(p.contactCommands, p.contactSpan) / ceiling) * 100).toFixed(1)}%)`,
    `requests: ${n(p.answered)} answered of ${n(p.requests)} = ${rate(p.requests, p.span).toFixed(2)}/s against the drain ${drain}/s ` +
      `(${((rate(p.requests, p.span) / drain) * 100).toFixed(1)}%); the pusher counted ${n(result.pacing.requests)} requests, ${n(result.commands)} commands`,
    `refused by the portal: ${n(p.refusedBucket + p.refusedOperating)} in all (503 QUERY_LIMIT_EXCEEDED ${n(p.refusedBucket)}, 429 OPERATION_TIME_LIMIT ${n(p.refusedOperating)}); ` +
      `after the first ${WARM_UP_SECONDS} s: ${n(p.refusedAfterWarmUp)} (target 0)`,
    `duplicates in the portal: companies by ORIGIN_ID ${n(p.companyDuplicates)}, contacts by ORIGIN_ID ${n(p.contactDuplicates)}, ` +
      `INNs on more than one company ${n(p.innDuplicates)} (target 0); it holds ${n(p.companies)} companies (${n(p.requisites)} requisites, ` +
      `${n(p.bankDetails)} bank details, ${n(p.addresses)} addresses) and ${n(p.contacts)} contacts`,
    `on a real portal, the same push (requests ÷ drain; import also bound by the operating-time limit at the docs' ${DOCS_IMPORT_SECONDS_PER_ITEM} s an item ` +
      `within ${standard.operatingLimit} s per ${standard.operatingWindow} s, i.e. ${(standard.operatingLimit / standard.operatingWindow / DOCS_IMPORT_SECONDS_PER_ITEM).toFixed(2)} items/s):`,
    `  import mode: ${n(p.answered)} requests take ${span(realTime(p.answered, 2))} at 2/s (standard), ${span(realTime(p.answered, 5))} at 5/s (enterprise); ` +
      `${n(p.imported)} imported items take ${span(importBound)} of operating time → ${span(Math.max(realTime(p.answered, 2), importBound))} standard, ` +
      `${span(Math.max(realTime(p.answered, 5), importBound))} enterprise; for the bucket to be the limit at the default --concurrency 2, a batch must ` +
      `answer within 1 s at 2/s, 0.4 s at 5/s`,
    `  --mode add: ${n(addCommands)} commands (one per company, requisite, bank detail, address and contact, and the same reads) ` +
      `in ${n(addRequests)} batches at best → ${span(realTime(addRequests, 2))} standard, ${span(realTime(addRequests, 5))} enterprise ` +
      `(an add's operating time is not documented: not counted; every add starts the portal's automation)`,
    `entities: ${n(entities)} in ${seconds(wall)} = ${rate(entities, wall).toFixed(0)}/s`,
    `pusher process: peak RSS ${(report.maxRssKb / 1024).toFixed(0)} MB, CPU ${seconds(report.cpuSeconds)}; waited for the bucket ${seconds(result.pacing.waitedForBucketMs / 1000)} ` +
      `(summed over ${concurrency} batches in flight), for operating time ${seconds(result.pacing.waitedForOperatingMs / 1000)}`,
    `sandbox process: CPU ${seconds(sandboxCpu)}; requests spent ${seconds(p.serving)} inside it (summed): ${(p.serving / p.span).toFixed(1)} in flight on average ` +
      `(the pusher keeps up to ${concurrency}); no request in flight for ${seconds(p.idle)} of ${seconds(p.span)} (the pusher's own work between requests)`,
    `PostgreSQL: ${seconds(cpu.byDatabase.get(databases.warehouse) ?? 0)} CPU for the pusher (${databases.warehouse}), ${seconds(cpu.byDatabase.get(databases.portal) ?? 0)} for the sandbox (${databases.portal}); ` +
      `the machine used ${seconds(cpu.machine)} CPU of ${seconds(wall * 2)} (2 cores × wall, other people's work included)`,
  ];
  console.log(lines.join('\n'));
}

/** Seconds as minutes, hours or days. */
function span(x: number): string {
  if (x < 120) return `${x.toFixed(0)} s`;
  if (x < 7200) return `${(x / 60).toFixed(0)} min`;
  if (x < 172_800) return `${(x / 3600).toFixed(1)} h`;
  return `${(x / 86_400).toFixed(1)} days`;
}

if (flags['push-process']) await pushProcess();
else await main();
