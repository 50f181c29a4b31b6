import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type pg from 'pg';
import { projectRoot } from '../db/paths.js';
import { formatCount } from '../land/progress.js';
import { push, type PushResult } from './push.js';
import { startSandbox, type Sandbox } from '../sandbox/index.js';

/** The sandbox's bucket drains this fast in the demo, so its push takes seconds (a real standard portal: 2 a second). */
const DEMO_DRAIN = 25;

export interface DemoPush {
  sandbox: Sandbox;
  result: PushResult;
  /** What the portal holds, in a few lines. */
  summary: string;
}

/**
 * The demo's last step: a sandbox portal in the demo database (schema bitrix_sandbox), the
 * clean base pushed to it in import mode, and what the portal then holds.
 */
export async function pushToDemoPortal(pool: pg.Pool, databaseUrl: string, log: (line: string) => void): Promise<DemoPush> {
  const certDir = join(projectRoot(), '.data', 'sandbox');
  const options = {
    databaseUrl, schema: 'bitrix_sandbox', certDir, plan: 'standard' as const,
    bucket: { size: 50, drainPerSecond: DEMO_DRAIN }, operating: { importItemSeconds: 0.001 }, log,
  };
  // the port of the last demo first: the push knows a portal by its address, so the same
  // address keeps its links and a second demo finds everything unchanged
  const portFile = join(certDir, 'demo-port');
  const lastPort = existsSync(portFile) ? Number(readFileSync(portFile, 'utf8')) : 0;
  const sandbox = await startSandbox({ ...options, port: lastPort }).catch((e: NodeJS.ErrnoException) => {
    if (lastPort === 0 || (e.code !== 'EADDRINUSE' && e.code !== 'EACCES')) throw e;
    log(`sandbox: the last demo's port ${lastPort} is taken; the portal gets another (what it holds is found again by INN and ORIGIN_ID)`);
    return startSandbox(options);
  });
  writeFileSync(portFile, new URL(sandbox.url).port);
  try {
    const result = await push(pool, {
      webhookUrl: sandbox.webhookUrl, ca: sandbox.certFile ? readFileSync(sandbox.certFile) : undefined,
      limits: { drain: DEMO_DRAIN }, log, progressSeconds: 5,
    });
    const { rows: [held] } = await pool.query<Record<string, string>>(`
      select (select count(*) from bitrix_sandbox.company) as companies,
             (select count(*) from bitrix_sandbox.requisite) as requisites,
             (select count(*) from bitrix_sandbox.bank_detail) as banks,
             (select count(*) from bitrix_sandbox.address) as addresses,
             (select count(*) from bitrix_sandbox.contact) as contacts,
             (select count(*) from bitrix_sandbox.company where created_via = 'import') + (select count(*) from bitrix_sandbox.contact where created_via = 'import') as imported`);
    const n = (k: string) => formatCount(Number(held![k]));
    const s = result.stats;
    const summary = [
      `Pushed to the sandbox portal ${sandbox.url} (${result.mode} mode, its bucket draining ${DEMO_DRAIN}/s; a real standard portal drains 2/s): ` +
        `${formatCount(s.company.created)} companies and ${formatCount(s.contact.created)} contacts created, ` +
        `${formatCount(s.company.adopted + s.contact.adopted)} found there and adopted, ${formatCount(s.company.updated + s.contact.updated)} updated, ` +
        `${formatCount(s.company.unchanged + s.contact.unchanged)} unchanged, ${formatCount(s.company.failed + s.contact.failed)} failed, ` +
        `${formatCount(result.pacing.requests)} requests in ${result.seconds.toFixed(1)}s.`,
      `The portal holds ${n('companies')} companies (${n('requisites')} requisites, ${n('banks')} bank details, ${n('addresses')} legal addresses) ` +
        `and ${n('contacts')} contacts; ${n('imported')} of them created by import (no automation ran).`,
      'Its tables are in schema bitrix_sandbox: select id, title, origin_id from bitrix_sandbox.company limit 10;',
      'What was pushed, per canonical row: select * from etl.crm_link limit 10;',
    ].join('\n');
    return { sandbox, result, summary };
  } catch (e) {
    await sandbox.stop();
    throw e;
  }
}
