import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isoMicros } from '../../src/land/change-time.js';
import { landBatch } from '../../src/land/staging-writer.js';
import { runTransform } from '../../src/transform/run.js';
import { runCli, startCli } from '../helpers/cli.js';
import type { TestDatabase } from '../helpers/db.js';
import { cliEnv, held, portalKey, readySample, rest, testPortal, type TestPortal } from './helpers.js';

// What a real portal's ordinary events do to a push: an answer lost before the portal wrote
// anything, the same portal reached at another address, a manager's deletions and typing, a
// stop during a long wait, a portal that goes away.

let db: TestDatabase;
beforeAll(async () => {
  ({ db } = await readySample(67, { companies: 120, contacts: 400 }));
});
afterAll(async () => {
  await db?.drop();
});

/** Imports that cost a thousandth of a second an item, a bucket draining 50 a second: a portal fast enough for tests. */
const fast = { bucket: { size: 50, drainPerSecond: 50 }, operating: { importItemSeconds: 0.001 } };
const fastLimits = { limits: { drain: 50 } };
const push = ['push', '--progress-seconds', '0'];

/** The contacts of the companies linked on the portal, as the clean base has them. */
async function contactsOfLinked(portal: TestPortal): Promise<number> {
  return Number(await db.value(`select count(*) from etl.crm_contact_out o where exists (select from etl.crm_link l
    where l.portal = $1 and l.entity = 'company' and l.state = 'linked' and l.canonical_id = o.company_id)`, [portalKey(portal)]));
}

async function queuedPushes(portal: string): Promise<number> {
  return Number(await db.value(`select count(*) from graphile_worker.jobs where task_identifier = 'crm_push' and key = 'crm_push:' || $1`, [portal]));
}

/** Waits until the text appears in what `read` returns (a process's output). */
async function until(read: () => string, pattern: RegExp, seconds = 60): Promise<void> {
  for (let i = 0; i < seconds * 20; i++) {
    if (pattern.test(read())) return;
    await sleep(50);
  }
  throw new Error(`waited ${seconds}s for ${pattern}; got: ${read().slice(-2000)}`);
}

describe('the push on a real portal', () => {
  it('an answer lost before the portal wrote anything (a gateway\'s 504) is looked up, not found, and sent again in the same run: everything is in the CRM, exit 0', async () => {
    const portal = await testPortal(db, fast);
    try {
      // the company import, then (its resend passing) the contact import, each answered by a gateway before the portal ran it
      portal.sandbox.inject(
        { kind: 'html', status: 504, method: 'crm.item.batchImport' },
        { kind: 'latency', ms: 0, method: 'crm.item.batchImport' },
        { kind: 'html', status: 504, method: 'crm.item.batchImport' },
      );
      const run = await runCli([...push, '--limit', '10'], db.url, cliEnv(portal, { bucketSize: 50, drain: 50 }));
      expect(run.code, run.stderr).toBe(0);
      const { rows: faults } = await portal.db.query<{ n: number }>(`select count(*)::int as n from call where fault = 'html 504'`);
      expect(faults[0]!.n).toBe(2);
      const { linked, crm } = await held(db, portal);
      expect(linked.company).toBe(10);
      expect(crm.companies).toBe(10);
      const contacts = await contactsOfLinked(portal);
      expect(contacts).toBeGreaterThan(0);
      expect(linked.contact).toBe(contacts);
      expect(crm.contacts).toBe(contacts);
      expect(run.stdout).toMatch(new RegExp(`writes got no answer; after looking the CRM up, ${10 + contacts} entities were taken up again in this run`));
      expect(run.stdout).not.toMatch(/still without an answer|are not in the CRM/);
      expect(await db.value(`select count(*) from etl.crm_link where portal = $1 and state = 'sending'`, [portalKey(portal)])).toBe('0');
    } finally {
      await portal.stop();
    }
  });

  it('a portal that loses every answer gets each write a few times, then the run says what is not in the CRM, exits 1 and queues a push', async () => {
    const portal = await testPortal(db, fast);
    try {
      portal.sandbox.inject({ kind: 'html', status: 504, method: 'crm.item.batchImport', times: 100 });
      const run = await runCli([...push, '--limit', '5'], db.url, cliEnv(portal, { bucketSize: 50, drain: 50 }));
      expect(run.code, run.stdout).toBe(1);
      expect(run.stdout).toMatch(/ 5 entities are not in the CRM: every write of theirs got no answer and the CRM did not have them; the next push sends them again/);
      expect(run.stderr).toMatch(/a crm_push job is queued for what is left/);
      expect(await queuedPushes(portalKey(portal))).toBe(1);
      // sent three times: once, and twice again after each lookup found nothing
      const { rows } = await portal.db.query<{ n: number }>(`select count(*)::int as n from call where fault = 'html 504'`);
      expect(rows[0]!.n).toBe(3);
      expect((await held(db, portal)).crm.companies).toBe(0);
      // due in a minute; a portal that goes on losing everything is asked later each time
      const due = async () => Number(await db.value(`select extract(epoch from run_at - now()) from graphile_worker.jobs where key = 'crm_push:' || $1`, [portalKey(portal)]));
      expect(await due()).toBeGreaterThan(40);
      expect(await due()).toBeLessThanOrEqual(60);
      await db.pool.query(`select graphile_worker.remove_job('crm_push:' || $1)`, [portalKey(portal)]);
      const again = await runCli([...push, '--limit', '5'], db.url, cliEnv(portal, { bucketSize: 50, drain: 50 }));
      expect(again.code).toBe(1);
      expect(await due()).toBeGreaterThan(100);
      expect(await due()).toBeLessThanOrEqual(120);
    } finally {
      await portal.stop();
    }
  });

  it('SIGINT while lost answers settle ends the wait at once: summary, the unanswered counted, exit 1', async () => {
    const portal = await testPortal(db, fast);
    try {
      portal.sandbox.inject({ kind: 'html', status: 504, method: 'crm.item.batchImport', times: 100 });
      const run = startCli([...push, '--limit', '5'], db.url, cliEnv(portal, { bucketSize: 50, drain: 50, settleSeconds: 120 }));
      let stderr = '';
      run.child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
      await until(() => stderr, /got no answer; waiting \d+s/);
      const signalled = Date.now();
      run.child.kill('SIGINT');
      const done = await run.done;
      expect(Date.now() - signalled).toBeLessThan(5000);
      expect(done.code).toBe(1);
      expect(done.stdout).toMatch(/^push run \d+ to portal/m);
      expect(done.stdout).toMatch(/ 5 writes are still without an answer \(the run stopped first\): the next push looks them up/);
      // sent and unanswered: left for the next push to look up
      expect(await db.value(`select count(*) from etl.crm_link where portal = $1 and state = 'sending'`, [portalKey(portal)])).toBe('5');
    } finally {
      await portal.stop();
    }
  });

  it('SIGINT during a wait for the portal\'s execution-time limit exits within seconds with the summary; what was never sent is released, not left sending', async () => {
    // 2 s of execution a method per 10 minutes, imports at 0.5 s an item: after the first batch of companies the next has to wait the window out
    const portal = await testPortal(db, { ...fast, operating: { limitSeconds: 2, windowSeconds: 600, importItemSeconds: 0.5 } });
    try {
      const run = startCli([...push, '--limit', '40', '--concurrency', '1'], db.url, cliEnv(portal, { bucketSize: 50, drain: 50, operatingLimit: 2 }));
      let stderr = '';
      run.child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
      await until(() => stderr, /push: waiting \d+s for \S+: the portal allows 2 s of its execution time per 10 min/);
      const signalled = Date.now();
      run.child.kill('SIGINT');
      const done = await run.done;
      expect(Date.now() - signalled).toBeLessThan(5000);
      expect(done.code).toBe(1);
      expect(done.stdout).toMatch(/^push run \d+ to portal .*\n  companies: \d+ created/m);
      expect(done.stderr).toMatch(/stopped by a signal before it went through everything/);
      const created = Number(/companies: (\d+) created/.exec(done.stdout)![1]);
      expect(created).toBeGreaterThan(0);
      expect(created).toBeLessThan(40);
      expect((await held(db, portal)).crm.companies).toBe(created);
      expect(await db.value(`select count(*) from etl.crm_link where portal = $1 and state = 'sending'`, [portalKey(portal)])).toBe('0');
      expect(await queuedPushes(portalKey(portal))).toBe(1);
    } finally {
      await portal.stop();
    }
  });

  it('a portal that stops answering mid-push gets few requests after the first refused connection; nothing refused is marked unknown; summary, exit 1', async () => {
    const portal = await testPortal(db, fast);
    let stopped = false;
    try {
      portal.sandbox.inject({ kind: 'latency', ms: 200, method: 'batch', times: 1000 });
      const run = startCli(push, db.url, cliEnv(portal, { bucketSize: 50, drain: 50, chunk: 16 }));
      let stderr = '';
      run.child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
      for (let i = 0; i < 600 && Number(await db.value(`select count(*) from etl.crm_link where portal = $1 and state = 'linked'`, [portalKey(portal)])) < 20; i++) {
        await sleep(25);
      }
      // the portal goes away: what it was serving is answered, then nothing listens
      await portal.sandbox.stop();
      stopped = true;
      const gone = Date.now();
      const done = await run.done;
      expect(done.code, done.stderr).toBe(1);
      expect(Date.now() - gone).toBeLessThan(15_000);
      expect(done.stderr).toMatch(/stopped: the portal stopped answering: .*refused the connection \(ECONNREFUSED\): nothing was sent, \d times in a row/);
      const requests = Number(/ (\d+) requests \(/.exec(done.stdout)![1]);
      const { rows: [answered] } = await portal.db.query<{ n: number }>('select count(*)::int as n from call');
      expect(requests - answered!.n).toBeLessThanOrEqual(6);
      // a refused connection sent nothing: at most the batches at the portal when it went (a
      // request on a connection it closed under us may have reached it) wait for a lookup, and
      // the summary counts them
      const unknown = Number(await db.value(`select count(*) from etl.crm_link where portal = $1 and state = 'sending'`, [portalKey(portal)]));
      expect(unknown).toBeLessThanOrEqual(2 * 16);
      expect(Number(/ (\d+) writes are still without an answer/.exec(done.stdout)?.[1] ?? 0)).toBe(unknown);
      expect(await queuedPushes(portalKey(portal))).toBe(1);
    } finally {
      if (!stopped) await portal.sandbox.stop();
      await portal.db.end();
    }
  });

  it('a company a manager deleted stays deleted: its new contact waits instead of landing without a company; status and why say so; restore brings it back, let-go lets it go', async () => {
    const portal = await testPortal(db, fast);
    try {
      await portal.push(fastLimits);
      const [company] = await db.rows<{ company_id: string; inn: string; bitrix_id: string; source_key: string }>(`
        select c.company_id::text, c.inn, l.bitrix_id::text, cs.source_key from canonical.company c
        join canonical.company_source cs on cs.company_id = c.company_id and cs.source = 'store_b'
        join etl.crm_link l on l.portal = $1 and l.entity = 'company' and l.canonical_id = c.company_id and l.state = 'linked'
        order by c.company_id limit 1`, [portalKey(portal)]);
      await rest(portal, 'crm.company.delete', { id: company!.bitrix_id });
      // the store sends a new person of that company
      const key = `BC-NEW-${Date.now()}`;
      const updated = '2026-11-25T10:00:00Z';
      await landBatch(db.pool, { source: 'store_b', entity: 'contact', origin: 'test' }, [{
        sourceKey: key, updatedAt: isoMicros(updated), isDeleted: false,
        payload: { id: key, company_id: company!.source_key, name: { last: 'Новикова', first: 'Анна', middle: 'Петровна' }, position: 'Бухгалтер', phones: ['+7 916 000-11-22'], updated },
      }]);
      await runTransform(db.pool);
      const contactsBefore = (await held(db, portal)).crm.contacts;
      const result = await portal.push(fastLimits);
      expect(result.stats.company.deleted).toBe(1);
      expect((await held(db, portal)).crm.contacts).toBe(contactsBefore); // nothing landed without its company
      expect(await db.value(`select count(*) from etl.crm_link where portal = $1 and entity = 'contact' and canonical_id in (
        select contact_id from canonical.contact where company_id = $2) and state <> 'linked'`, [portalKey(portal), company!.company_id])).toBe('0');
      // a second push changes nothing and fails nothing
      const second = await portal.push(fastLimits);
      expect(second.stats.company).toMatchObject({ created: 0, failed: 0, deleted: 0 });
      expect(second.stats.contact).toMatchObject({ created: 0, failed: 0 });

      const status = await runCli(['status'], db.url);
      expect(status.stdout).toMatch(/deleted in the CRM: 1 company \([1-9]\d* of their contacts wait\), 0 contacts and 0 deals/);
      const why = await runCli(['why', company!.inn], db.url);
      expect(why.stdout).toMatch(new RegExp(`crm\\s+CRM company ${company!.bitrix_id} on ${portalKey(portal).replace(/\./g, '\\.')}: deleted in the CRM \\(noticed \\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d\\); not created again, its contacts wait`));
      const whyContact = await runCli(['why', `store_b:${key}`], db.url);
      expect(whyContact.stdout).toMatch(new RegExp(`not in the CRM on ${portalKey(portal).replace(/\./g, '\\.')}: its company \\(CRM company ${company!.bitrix_id}\\) was deleted in the CRM`));
      const listed = await runCli(['crm', 'deleted'], db.url);
      expect(listed.stdout).toMatch(new RegExp(`company:${company!.company_id}  CRM company ${company!.bitrix_id}  deleted in the CRM`));
      // a --portal by one of its addresses is that portal; one never pushed to is wrong usage
      expect((await runCli(['crm', 'deleted', '--portal', portalKey(portal)], db.url)).stdout).toMatch(/company:/);
      const unknown = await runCli(['crm', 'deleted', '--portal', 'nowhere.example'], db.url);
      expect(unknown.code).toBe(2);
      expect(unknown.stderr).toMatch(/no portal is named nowhere\.example or was reached at it; the portals pushed to: /);

      // let it go: no longer reported
      const letGo = await runCli(['crm', 'let-go', company!.inn], db.url);
      expect(letGo.code, letGo.stderr).toBe(0);
      expect((await runCli(['status'], db.url)).stdout).not.toMatch(/deleted in the CRM: 1 company/);
      // bring it back: created again, with its contacts, the new one among them
      const restored = await runCli(['crm', 'restore', `company:${company!.company_id}`], db.url);
      expect(restored.code, restored.stderr).toBe(0);
      expect(restored.stdout).toMatch(/restored; the next push creates it again and puts its contacts under it/);
      const back = await portal.push(fastLimits);
      expect(back.stats.company.created).toBe(1);
      const [link] = await db.rows<{ bitrix_id: string }>(`select bitrix_id::text from etl.crm_link where portal = $1 and entity = 'company' and canonical_id = $2 and state = 'linked'`,
        [portalKey(portal), company!.company_id]);
      const { rows: under } = await portal.db.query<{ n: number }>(`select count(*)::int as n from contact where fields ->> 'COMPANY_ID' = $1`, [link!.bitrix_id]);
      expect(under[0]!.n).toBe(Number(await db.value(`select count(*) from etl.crm_contact_out where company_id = $1`, [company!.company_id])));
      // a subject that matches nothing is said, exit 1; one of no known form is wrong usage, exit 2
      expect((await runCli(['crm', 'restore', company!.inn], db.url)).code).toBe(1);
      expect((await runCli(['crm', 'restore', 'Ромашка'], db.url)).code).toBe(2);
    } finally {
      await portal.stop();
    }
  });

  it('a contact a manager deleted is not created again and fails nothing', async () => {
    const portal = await testPortal(db, fast);
    try {
      await portal.push(fastLimits);
      const [contact] = await db.rows<{ contact_id: string; bitrix_id: string }>(`select l.canonical_id::text as contact_id, l.bitrix_id::text from etl.crm_link l
        where l.portal = $1 and l.entity = 'contact' and l.state = 'linked' order by l.canonical_id limit 1`, [portalKey(portal)]);
      await rest(portal, 'crm.contact.delete', { id: contact!.bitrix_id });
      await db.pool.query(`update canonical.contact set position = 'Директор по закупкам' where contact_id = $1`, [contact!.contact_id]);
      const result = await portal.push(fastLimits);
      expect(result.stats.contact).toMatchObject({ deleted: 1, failed: 0, created: 0 });
      const again = await portal.push(fastLimits);
      expect(again.stats.contact).toMatchObject({ deleted: 0, failed: 0, created: 0, updated: 0 });
      expect(await db.value(`select state from etl.crm_link where portal = $1 and entity = 'contact' and canonical_id = $2`, [portalKey(portal), contact!.contact_id])).toBe('deleted');
    } finally {
      await portal.stop();
    }
  });

  it('phones are compared as numbers: a manager\'s 8 (…) form of our number is the same number, never added a second time', async () => {
    const portal = await testPortal(db, fast);
    try {
      await portal.push(fastLimits);
      const [company] = await db.rows<{ company_id: string; bitrix_id: string; phone: string }>(`
        select l.canonical_id::text as company_id, l.bitrix_id::text, o.phones[1] as phone from etl.crm_link l join etl.crm_company_out o on o.company_id = l.canonical_id
        where l.portal = $1 and l.entity = 'company' and l.state = 'linked' and o.phones[1] ~ '^\\+7\\d{10}$' order by l.canonical_id limit 1`, [portalKey(portal)]);
      // the manager retypes our number the way people write it
      const typed = `8 (${company!.phone.slice(2, 5)}) ${company!.phone.slice(5, 8)}-${company!.phone.slice(8, 10)}-${company!.phone.slice(10)}`;
      const phones = (await rest(portal, 'crm.company.get', { id: company!.bitrix_id })).PHONE as Array<{ ID: string; VALUE: string }>;
      const ours = phones.find((p) => p.VALUE === company!.phone)!;
      await rest(portal, 'crm.company.update', { id: company!.bitrix_id, fields: { PHONE: [{ ID: ours.ID, VALUE: typed }] } });
      await db.pool.query(`update canonical.company set name = name || ' (изм.)' where company_id = $1`, [company!.company_id]);
      try {
        const result = await portal.push(fastLimits);
        expect(result.stats.company.updated).toBe(1);
        const now = ((await rest(portal, 'crm.company.get', { id: company!.bitrix_id })).PHONE as Array<{ VALUE: string }>).map((p) => p.VALUE);
        expect(now.filter((v) => v.replace(/\D/g, '').endsWith(company!.phone.slice(2)))).toEqual([typed]);
      } finally {
        await db.pool.query(`update canonical.company set name = left(name, length(name) - length(' (изм.)')) where company_id = $1`, [company!.company_id]);
      }
    } finally {
      await portal.stop();
    }
  });

  it('a person a manager entered with an 8 (…) phone is found as the portal finds duplicates and adopted, not created beside', async () => {
    const portal = await testPortal(db, fast);
    try {
      const [target] = await db.rows<{ company_id: string; inn: string; phone: string; contact_id: string }>(`
        select c.company_id::text, c.inn, ct.phones[1] as phone, ct.contact_id::text
        from etl.crm_company_out c join etl.crm_contact_out ct using (company_id)
        where length(c.inn) = 10 and ct.phones[1] like '+79%' and cardinality(ct.emails) = 0
          and (select count(*) from etl.crm_contact_out k where k.company_id = c.company_id) = 1
        order by c.company_id limit 1`);
      const presets = await rest(portal, 'crm.requisite.preset.list', {});
      const preset = presets.find((p: { XML_ID: string }) => p.XML_ID === '#CRM_REQUISITE_PRESET_DEF_RU_COMPANY#');
      const managerCompany = await rest(portal, 'crm.company.add', { fields: { TITLE: 'Завёл менеджер' } });
      await rest(portal, 'crm.requisite.add', { fields: { ENTITY_TYPE_ID: 4, ENTITY_ID: managerCompany, PRESET_ID: preset.ID, NAME: 'Реквизиты', RQ_INN: target!.inn } });
      const p = target!.phone;
      const typed = `8 (${p.slice(2, 5)}) ${p.slice(5, 8)}-${p.slice(8, 10)}-${p.slice(10)}`;
      const managerContact = await rest(portal, 'crm.contact.add', { fields: { NAME: 'Иван', COMPANY_ID: managerCompany, PHONE: [{ VALUE: typed, VALUE_TYPE: 'MOBILE' }] } });
      const result = await portal.push(fastLimits);
      expect(result.stats.contact.failed).toBe(0);
      expect(await db.value(`select bitrix_id::text from etl.crm_link where portal = $1 and entity = 'contact' and canonical_id = $2`, [portalKey(portal), target!.contact_id]))
        .toBe(String(managerContact));
      const { rows } = await portal.db.query<{ n: number }>(`select count(*)::int as n from contact where fields ->> 'COMPANY_ID' = $1`, [String(managerCompany)]);
      expect(rows[0]!.n).toBe(1);
      const phones = ((await rest(portal, 'crm.contact.get', { id: managerContact })).PHONE as Array<{ VALUE: string }>).map((x) => x.VALUE);
      expect(phones).toEqual([typed]);
    } finally {
      await portal.stop();
    }
  });

  it('--dry-run says how long the push takes in import and in add mode: the docs\' cost until the portal reported its own', async () => {
    const portal = await testPortal(db, { ...fast, operating: { importItemSeconds: 0.02 } });
    try {
      const env = cliEnv(portal);
      const first = await runCli(['push', '--dry-run'], db.url, env);
      expect(first.code, first.stderr).toBe(0);
      expect(first.stdout).toMatch(/import mode \(no automation\): about .+: [\d ]+ requests at 2\/s take .+; [\d ]+ creates at 1\.19 s of execution an item \(the docs' example; this portal has not reported its own yet\), 480 s per 10 min: /);
      expect(first.stdout).toMatch(/add mode: about .+; starts the portal's automation for every entity it creates/);
      await portal.push({ ...fastLimits, limit: 40 });
      // a push under another record of the limits (a new webhook of the portal) learns the cost again, from the portal's own figures
      await db.pool.query(`delete from etl.crm_operating`);
      await portal.push({ ...fastLimits, limit: 20 });
      const cost = Number(await db.value(`select cost_per_unit from etl.crm_operating where split_part(portal, '/', 1) = $1 and method = 'crm.item.batchImport'`, [portalKey(portal)]));
      expect(cost).toBeGreaterThan(0.015);
      expect(cost).toBeLessThan(0.03);
      const second = await runCli(['push', '--dry-run'], db.url, env);
      expect(second.stdout).toMatch(/creates at 0\.0[12]\d s of execution an item \(as this portal reported in earlier pushes\)/);
      // and the limit state can be cleared
      const cleared = await runCli(['crm', 'clear-limits', '--portal', portalKey(portal)], db.url);
      expect(cleared.code, cleared.stderr).toBe(0);
      expect(await db.value(`select count(*) from etl.crm_operating where split_part(portal, '/', 1) = $1`, [portalKey(portal)])).toBe('0');
    } finally {
      await portal.stop();
    }
  });

  it('an update whose answer was lost and that the CRM shows done counts as updated; a portal that refuses a batch outright leaves nothing waiting for a lookup', async () => {
    const portal = await testPortal(db, fast);
    try {
      await portal.push({ ...fastLimits, limit: 20 });
      const changed = await db.rows<{ company_id: string }>(`select l.canonical_id::text as company_id from etl.crm_link l
        where l.portal = $1 and l.entity = 'company' and l.state = 'linked' order by l.canonical_id limit 5`, [portalKey(portal)]);
      const ids = changed.map((c) => c.company_id);
      await db.pool.query(`update canonical.company set name = name || ' (изм.)' where company_id = any($1::bigint[])`, [ids]);
      try {
        // the update batch is written, its answer lost
        portal.sandbox.inject({ kind: 'drop', method: 'crm.company.update' });
        const result = await portal.push({ ...fastLimits, limit: 0 });
        expect(result.stats.unknownOutcomes).toBe(5);
        expect(result.stats.company.updated).toBe(5);
        expect(result.stats).toMatchObject({ unconfirmed: 0, leftOut: 0 });
        const titles = (await portal.db.query<{ title: string }>(`select fields ->> 'TITLE' as title from company where origin_id = any($1::text[])`, [ids])).rows;
        expect(titles.every((t) => t.title.endsWith(' (изм.)'))).toBe(true);
      } finally {
        await db.pool.query(`update canonical.company set name = left(name, length(name) - length(' (изм.)')) where company_id = any($1::bigint[])`, [ids]);
      }
      // the portal blocks the webhook at the next import: the push stops, and nothing of that batch ran
      portal.sandbox.inject({ kind: 'overload', method: 'crm.item.batchImport' });
      const stopped = await portal.push({ ...fastLimits, limit: 10 });
      expect(stopped.stopped).toMatch(/blocked for overload/);
      expect(stopped.stats).toMatchObject({ unconfirmed: 0, leftOut: 0 });
      expect(await db.value(`select count(*) from etl.crm_link where portal = $1 and state = 'sending'`, [portalKey(portal)])).toBe('0');
    } finally {
      await portal.stop();
    }
  });

  it('a phone an update added though its answer was lost stays ours: when the clean base drops it, the push removes it', async () => {
    const portal = await testPortal(db, fast);
    const extra = '+74950001122';
    const [company] = await db.rows<{ company_id: string }>(`select company_id::text from canonical.company c
      where exists (select from etl.crm_company_out o where o.company_id = c.company_id) order by company_id limit 1`);
    try {
      await portal.push({ ...fastLimits, limit: 20 });
      const bitrixId = Number(await db.value(`select bitrix_id from etl.crm_link where portal = $1 and entity = 'company' and canonical_id = $2 and state = 'linked'`,
        [portalKey(portal), company!.company_id]));
      expect(bitrixId).toBeGreaterThan(0);
      const phones = async () => ((await rest(portal, 'crm.company.get', { id: bitrixId })).PHONE as Array<{ VALUE: string }> ?? []).map((p) => p.VALUE);
      // the clean base gains a phone; the update carrying it is written, its answer lost
      await db.pool.query(`update canonical.company set phones = phones || $2::text where company_id = $1`, [company!.company_id, extra]);
      portal.sandbox.inject({ kind: 'drop', method: 'crm.company.update' });
      const lost = await portal.push({ ...fastLimits, limit: 0 });
      expect(lost.stats.unknownOutcomes).toBeGreaterThan(0);
      expect(await phones()).toContain(extra);
      // the clean base drops it again: it was ours, so it goes
      await db.pool.query(`update canonical.company set phones = array_remove(phones, $2::text) where company_id = $1`, [company!.company_id, extra]);
      await portal.push({ ...fastLimits, limit: 0 });
      expect(await phones()).not.toContain(extra);
    } finally {
      await db.pool.query(`update canonical.company set phones = array_remove(phones, $2::text) where company_id = $1`, [company!.company_id, extra]);
      await portal.stop();
    }
  });

  it('a phone a contact\'s update added though its answer was lost stays ours: when the clean base drops it, the push removes it', async () => {
    const portal = await testPortal(db, fast);
    const extra = '+79160001122';
    try {
      await portal.push({ ...fastLimits, limit: 20 });
      const [contact] = await db.rows<{ contact_id: string; bitrix_id: string }>(`select canonical_id::text as contact_id, bitrix_id::text from etl.crm_link
        where portal = $1 and entity = 'contact' and state = 'linked' order by canonical_id limit 1`, [portalKey(portal)]);
      const phones = async () => ((await rest(portal, 'crm.contact.get', { id: Number(contact!.bitrix_id) })).PHONE as Array<{ VALUE: string }> ?? []).map((p) => p.VALUE);
      await db.pool.query(`update canonical.contact set phones = phones || $2::text where contact_id = $1`, [contact!.contact_id, extra]);
      try {
        portal.sandbox.inject({ kind: 'drop', method: 'crm.contact.update' });
        const lost = await portal.push({ ...fastLimits, limit: 0 });
        expect(lost.stats.unknownOutcomes).toBeGreaterThan(0);
        expect(await phones()).toContain(extra);
      } finally {
        await db.pool.query(`update canonical.contact set phones = array_remove(phones, $2::text) where contact_id = $1`, [contact!.contact_id, extra]);
      }
      await portal.push({ ...fastLimits, limit: 0 });
      expect(await phones()).not.toContain(extra);
    } finally {
      await portal.stop();
    }
  });

  it('a new person at a number the CRM still shows on another person of ours is created, never taken for that one', async () => {
    const portal = await testPortal(db, fast);
    let twinId: string | null = null;
    try {
      await portal.push({ ...fastLimits, limit: 5 });
      // a contact the push created, with a phone, in a company linked before the next push
      const [a] = await db.rows<{ contact_id: string; company_id: string; bitrix_id: string; phone: string }>(`
        select c.contact_id::text, c.company_id::text, l.bitrix_id::text, c.phones[1] as phone
        from etl.crm_link l join canonical.contact c on c.contact_id = l.canonical_id
        where l.portal = $1 and l.entity = 'contact' and l.state = 'linked' and cardinality(c.phones) > 0
        order by c.contact_id limit 1`, [portalKey(portal)]);
      // the clean base has a second person at that number (the first one's change of number is
      // not in the CRM yet: here, not in the clean base either)
      twinId = await db.value<string>(`insert into canonical.contact (company_id, last_name, first_name, phones, emails)
        values ($1, 'Двойников', 'Пётр', array[$2], array['p.dvoynikov@example.ru']) returning contact_id::text`, [a!.company_id, a!.phone]);
      const pushed = await portal.push({ ...fastLimits, limit: 0 });
      expect(pushed.stats.contact.adopted).toBe(0);
      const [link] = await db.rows<{ bitrix_id: string; how: string }>(`select bitrix_id::text, how from etl.crm_link where portal = $1 and entity = 'contact' and canonical_id = $2`, [portalKey(portal), twinId]);
      expect(link).toMatchObject({ how: 'created' });
      expect(link!.bitrix_id).not.toBe(a!.bitrix_id);
      const inCrm = await portal.db.query<{ n: number }>(`select count(*)::int as n from contact where fields ->> 'LAST_NAME' = 'Двойников'`);
      expect(inCrm.rows[0]!.n).toBe(1);
    } finally {
      if (twinId) {
        await db.pool.query(`delete from etl.crm_link where entity = 'contact' and canonical_id = $1`, [twinId]);
        await db.pool.query(`delete from canonical.contact where contact_id = $1`, [twinId]);
      }
      await portal.stop();
    }
  });
});
