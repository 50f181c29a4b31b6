import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, startCli } from '../helpers/cli.js';
import type { TestDatabase } from '../helpers/db.js';
import { IMPORT_TURN_LOCK } from '../../src/crm/push.js';
import { cliEnv, portalKey, readySample, rest, testPortal, type TestPortal } from './helpers.js';

// The push when things go wrong: answers lost after the portal wrote, a process killed
// mid-run, two processes at once, a portal refusing for its limits, a wrong webhook.

let db: TestDatabase;
beforeAll(async () => {
  ({ db } = await readySample(43, { companies: 220, contacts: 700 }));
});
afterAll(async () => {
  await db?.drop();
});

const fast = { bucket: { size: 50, drainPerSecond: 50 }, operating: { importItemSeconds: 0.001 } };
const fastLimits = { limits: { drain: 50 } };

/** Every ready company, contact and deal is in the portal exactly once, and linked to it. */
async function exactlyOnce(portal: TestPortal): Promise<void> {
  const companies = Number(await db.value(`select count(*) from etl.crm_company_out`));
  const contacts = Number(await db.value(`select count(*) from etl.crm_contact_out`));
  const deals = Number(await db.value(`select count(*) from etl.crm_deal_out`));
  const { rows: [held] } = await portal.db.query<{ companies: number; company_keys: number; contacts: number; contact_keys: number; requisites: number; deals: number; deal_keys: number }>(`
    select (select count(*)::int from company) as companies, (select count(distinct origin_id)::int from company) as company_keys,
           (select count(*)::int from contact) as contacts, (select count(distinct origin_id)::int from contact) as contact_keys,
           (select count(*)::int from requisite) as requisites,
           (select count(*)::int from deal) as deals, (select count(distinct fields ->> 'ORIGIN_ID')::int from deal) as deal_keys`);
  expect(held).toEqual({ companies, company_keys: companies, contacts, contact_keys: contacts, requisites: companies, deals, deal_keys: deals });
  expect(await db.value(`select count(*) from etl.crm_link where portal = $1 and state = 'linked'`, [portalKey(portal)])).toBe(String(companies + contacts + deals));
}

const configFor = cliEnv;

describe('push when things go wrong', () => {
  it('an add whose answer is lost after the portal wrote it (a dropped connection, a gateway\'s 502 page) creates no duplicate', async () => {
    const portal = await testPortal(db, fast);
    try {
      // aimed at batches that create: a company import, a bank detail, a contact import
      portal.sandbox.inject(
        { kind: 'drop', method: 'crm.item.batchImport', times: 2 },
        { kind: 'html', status: 502, method: 'crm.requisite.bankdetail.add', afterCommit: true, times: 2 },
        { kind: 'drop', method: 'crm.item.batchImport', times: 1 },
      );
      const result = await portal.push(fastLimits);
      expect(result.stats.unknownOutcomes).toBeGreaterThan(0);
      expect(result.stats.duplicatesFound).toBe(0);
      await exactlyOnce(portal);
      // the lost answers really were writes the portal did
      const { rows } = await portal.db.query<{ n: number }>(`select count(*)::int as n from call where fault is not null and method = 'batch'`);
      expect(rows[0]!.n).toBe(5);
    } finally {
      await portal.stop();
    }
  });

  it('kill -9 of the pusher mid-run, then a rerun, leaves every entity in the CRM exactly once', async () => {
    const portal = await testPortal(db, { ...fast, bucket: { size: 50, drainPerSecond: 50 } });
    try {
      portal.sandbox.inject({ kind: 'latency', ms: 250, method: 'batch', times: 1000 });
      const env = configFor(portal, { bucketSize: 50, drain: 50 });
      const run = startCli(['push', '--progress-seconds', '0'], db.url, env);
      for (let i = 0; i < 600; i++) {
        const n = Number(await db.value(`select count(*) from etl.crm_link where portal = $1 and state = 'linked'`, [portalKey(portal)]));
        if (n >= 40) break;
        await sleep(25);
      }
      run.child.kill('SIGKILL');
      expect((await run.done).signal).toBe('SIGKILL');
      const companies = Number((await portal.db.query('select count(*) from company')).rows[0].count);
      expect(companies).toBeGreaterThan(0);
      expect(companies).toBeLessThan(Number(await db.value(`select count(*) from etl.crm_company_out`)));
      // the killed push left claims in the dark: those whose write had left are looked up by the
      // rerun, those claimed and never sent are released without a wait
      const { rows: [dark] } = await db.pool.query<{ sent: number; unsent: number }>(`select count(*) filter (where sent_at is not null)::int as sent,
        count(*) filter (where sent_at is null)::int as unsent from etl.crm_link where portal = $1 and state = 'sending'`, [portalKey(portal)]);
      expect(dark!.sent).toBeGreaterThan(0);
      expect(dark!.unsent).toBeGreaterThan(0);
      portal.sandbox.inject({ kind: 'latency', ms: 0, method: 'batch', times: 1 });
      // a settle time the rerun has to wait out, so it says for how many it waits
      const rerun = await runCli(['push', '--progress-seconds', '0'], db.url, configFor(portal, { bucketSize: 50, drain: 50, settleSeconds: 10 }));
      expect(rerun.code, rerun.stderr).toBe(0);
      const waited = [...rerun.stderr.matchAll(/push: (\d+) (?:companies|contacts) got no answer; waiting/g)].map((m) => Number(m[1]));
      expect(waited.reduce((a, b) => a + b, 0)).toBe(dark!.sent);
      await exactlyOnce(portal);
      // the rerun counts each entity once: one the killed run wrote and the rerun found is
      // created, and not also unchanged when the next step finds it complete
      const stats = await db.value<Record<'company' | 'contact', Record<'created' | 'adopted' | 'updated' | 'unchanged' | 'failed', number>>>(
        `select stats from etl.crm_push_run where portal = $1 order by run_id desc limit 1`, [portalKey(portal)]);
      for (const [entity, view] of [['company', 'crm_company_out'], ['contact', 'crm_contact_out']] as const) {
        const { created, adopted, updated, unchanged, failed } = stats[entity];
        expect(created + adopted + updated + unchanged + failed, entity).toBe(Number(await db.value(`select count(*) from etl.${view}`)));
      }
    } finally {
      await portal.stop();
    }
  });

  it('SIGTERM stops the push after the batches in flight are answered: a summary, exit 1, nothing left unknown, a rerun finishes', async () => {
    const portal = await testPortal(db, fast);
    try {
      portal.sandbox.inject({ kind: 'latency', ms: 250, method: 'batch', times: 1000 });
      const env = configFor(portal, { bucketSize: 50, drain: 50, chunk: 20 });
      const run = startCli(['push', '--progress-seconds', '0'], db.url, env);
      for (let i = 0; i < 600; i++) {
        const n = Number(await db.value(`select count(*) from etl.crm_link where portal = $1 and state = 'linked'`, [portalKey(portal)]));
        if (n >= 40) break;
        await sleep(25);
      }
      run.child.kill('SIGTERM');
      const stopped = await run.done;
      expect(stopped.code, stopped.stderr).toBe(1);
      expect(stopped.stderr).toContain('push: SIGTERM: finishing the batches at the portal, then stopping');
      expect(stopped.stderr).toContain('stopped by a signal before it went through everything: run it again to go on');
      const created = Number(/companies: (\d+) created/.exec(stopped.stdout)?.[1]);
      const companies = Number((await portal.db.query('select count(*) from company')).rows[0].count);
      expect(created).toBe(companies); // every company the portal has, this run counted
      expect(companies).toBeLessThan(Number(await db.value(`select count(*) from etl.crm_company_out`)));
      expect(await db.value(`select count(*) from etl.crm_link where portal = $1 and state = 'sending'`, [portalKey(portal)])).toBe('0');
      expect(await db.value(`select stats ->> 'stopped' from etl.crm_push_run where portal = $1 order by run_id desc limit 1`, [portalKey(portal)])).toBe('true');
      // what it left is queued due at once: the stop was its process's, no trouble of the portal to wait out (a worker runs it now)
      expect(stopped.stderr).toContain('a crm_push job is queued for what is left');
      expect(Number(await db.value(`select extract(epoch from run_at - now()) from graphile_worker.jobs where key = 'crm_push:' || $1`, [portalKey(portal)]))).toBeLessThanOrEqual(0);
      portal.sandbox.inject({ kind: 'latency', ms: 0, method: 'batch', times: 1 });
      const rerun = await runCli(['push', '--progress-seconds', '0'], db.url, env);
      expect(rerun.code, rerun.stderr).toBe(0);
      await exactlyOnce(portal);
    } finally {
      await portal.stop();
    }
  });

  it('two push processes at once create everything once and never exceed the portal\'s bucket', async () => {
    const portal = await testPortal(db, { ...fast, bucket: { size: 5, drainPerSecond: 5 } });
    try {
      const env = configFor(portal, { bucketSize: 5, drain: 5, chunk: 16 });
      const [a, b] = await Promise.all([runCli(['push', '--progress-seconds', '0'], db.url, env), runCli(['push', '--progress-seconds', '0'], db.url, env)]);
      expect(a.code, a.stderr).toBe(0);
      expect(b.code, b.stderr).toBe(0);
      await exactlyOnce(portal);
      // measured at the portal: it refused nothing for its bucket
      const { rows } = await portal.db.query<{ status: number; n: number }>(`select status, count(*)::int as n from call group by 1 order by 1`);
      expect(rows.filter((r) => r.status !== 200)).toEqual([]);
      // between them they created everything once
      const created = (out: string, what: string) => Number(new RegExp(`${what}: +([\\d ]+) created`).exec(out)?.[1]?.replaceAll(' ', '') ?? NaN);
      expect(created(a.stdout, 'companies') + created(b.stdout, 'companies')).toBe(Number(await db.value(`select count(*) from etl.crm_company_out`)));
    } finally {
      await portal.stop();
    }
  });

  it('a push waits while another imports deals to the portal, then dates its own after the newest there, none refused', async () => {
    // the two pushes above, each reading the portal's newest deal once, had both imported theirs in
    // turn: whichever was second sent deals older than the other's and the portal refused them
    const portal = await testPortal(db, fast);
    const other = await db.pool.connect();
    try {
      const said: string[] = [];
      await other.query('select pg_advisory_lock(hashtext($1))', [`${IMPORT_TURN_LOCK}:${portalKey(portal)}`]);
      let over = false;
      const pushed = portal.push({ ...fastLimits, log: (line) => said.push(line) }).finally(() => (over = true));
      pushed.catch(() => {});
      while (!said.some((line) => line.startsWith('push: waiting for another push to this portal to finish importing its deals'))) {
        if (over) throw new Error(`the push never waited for the import under way: ${said.join(' | ')}`);
        await sleep(100);
      }
      // its companies and contacts are in; the other push imports a deal now, newer than every order
      const { rows: [before] } = await portal.db.query<{ companies: number; deals: number }>(
        'select (select count(*)::int from company) as companies, (select count(*)::int from deal) as deals');
      expect(before).toEqual({ companies: Number(await db.value('select count(*) from etl.crm_company_out')), deals: 0 });
      const company = Number((await portal.db.query<{ id: string }>('select min(id)::text as id from company')).rows[0]!.id);
      const newest = new Date(Date.now() - 60_000);
      const imported = await rest(portal, 'crm.item.batchImport', { entityTypeId: 2, data: [
        { title: 'Сделка другой выгрузки', stageId: 'NEW', companyId: company, createdTime: newest.toISOString(), originatorId: 'elsewhere', originId: 'x-1' }] });
      expect(imported.items).toHaveLength(1);
      await other.query('select pg_advisory_unlock(hashtext($1))', [`${IMPORT_TURN_LOCK}:${portalKey(portal)}`]);
      const result = await pushed;
      const deals = Number(await db.value('select count(*) from etl.crm_deal_out'));
      expect(result.stats.deal).toMatchObject({ created: deals, failed: 0 });
      expect(result.stats.dealsDatedLater).toBe(deals);
      const { rows: [dated] } = await portal.db.query<{ earliest: Date }>(`select min(created_at) as earliest from deal where fields ->> 'ORIGINATOR_ID' is distinct from 'elsewhere'`);
      expect(dated!.earliest.getTime()).toBeGreaterThanOrEqual(newest.getTime() - 1000);
    } finally {
      other.release();
      await portal.stop();
    }
  });

  it('a 503 storm (another client filled the bucket) and a method\'s exhausted operating time are waited out', async () => {
    // the portal's bucket is far smaller than the push believes: it refuses, and the push backs off
    const small = await testPortal(db, { bucket: { size: 2, drainPerSecond: 1 }, operating: { importItemSeconds: 0.001 } });
    // a method gets 2 s of execution per 4 s: imports cost 0.05 s an item
    const slow = await testPortal(db, { ...fast, operating: { limitSeconds: 2, windowSeconds: 4, importItemSeconds: 0.05 } });
    try {
      const stormed = await small.push({ limits: { size: 50, drain: 50 }, limit: 60 });
      expect(stormed.pacing.refusedForBucket).toBeGreaterThan(0);
      expect(stormed.stats.company).toMatchObject({ created: 60, failed: 0 });
      expect(stormed.stats.refused).toBe(0);
      const said: string[] = [];
      const operated = await slow.push({ limits: { drain: 50, operatingLimit: 2, operatingWindow: 4 }, limit: 30, log: (line) => said.push(line), progressSeconds: 0.001 });
      // a wait for execution time is said, with the method and the pace it allows, not left as silence
      // and the time left is then reckoned from the pace so far, not from the request rate
      expect(said.filter((line) => / left at the pace the portal's execution-time limit allows$/.test(line)).length).toBeGreaterThan(0);
      const waiting = said.find((line) => line.startsWith('push: waiting'));
      expect(waiting, waiting).toMatch(
        /^push: waiting \d+s for \S+: the portal allows 2 s of its execution time per 4 s and this webhook has nearly used them(; at [\d.]+ s a unit it runs about [\d.]+ units\/s)?$/);
      expect(operated.stats.company).toMatchObject({ created: 30, failed: 0 });
      expect(operated.stats.contact.failed).toBe(0);
      expect(operated.stats.refused).toBe(0);
      expect(operated.pacing.waitedForOperatingMs).toBeGreaterThan(0);
      for (const portal of [small, slow]) {
        const { rows } = await portal.db.query<{ companies: number; keys: number }>(`select count(*)::int as companies, count(distinct origin_id)::int as keys from company`);
        expect(rows[0]!.companies).toBe(rows[0]!.keys);
      }
      // approached, not hit: the portal blocked a method at most once, a whole request or a command in a batch
      const { rows } = await slow.db.query<{ n: number }>(`select (select count(*)::int from call where status = 429 or error = 'OPERATION_TIME_LIMIT')
        + (select count(*)::int from call_command where error = 'OPERATION_TIME_LIMIT') as n`);
      expect(rows[0]!.n).toBeLessThanOrEqual(1);
    } finally {
      await small.stop();
      await slow.stop();
    }
  });

  it('a wrong webhook secret stops the push at once, one sentence, the secret masked, exit 1', async () => {
    const portal = await testPortal(db, fast);
    try {
      const wrong = portal.sandbox.webhookUrl.replace(/\/rest\/1\/[^/]+\//, '/rest/1/WrongSecret0123456789/');
      const started = Date.now();
      const result = await runCli(['push'], db.url, { ...configFor(portal, {}), BITRIX24_WEBHOOK_URL: wrong });
      expect(result.code).toBe(1);
      expect(Date.now() - started).toBeLessThan(15_000);
      expect(result.stderr).toMatch(/push: stopped: the portal does not accept the webhook \(INVALID_CREDENTIALS/);
      expect(result.stderr + result.stdout).not.toContain('WrongSecret0123456789');
      expect(result.stderr).not.toMatch(/\n\s+at /);
      // one request, no retry storm
      expect(Number((await portal.db.query('select count(*) from call')).rows[0].count)).toBe(1);
    } finally {
      await portal.stop();
    }
  });

  it('a portal blocked for overload stops the push instead of hammering it', async () => {
    const portal = await testPortal(db, fast);
    try {
      portal.sandbox.inject({ kind: 'overload', times: 100 });
      const error = await portal.push(fastLimits).then(() => null, (e: Error) => e);
      expect(error?.message).toMatch(/blocked for overload .*support/);
      expect(Number((await portal.db.query('select count(*) from call')).rows[0].count)).toBe(1);
    } finally {
      await portal.stop();
    }
  });
});
