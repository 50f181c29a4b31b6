import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { startPortal, type Portal } from './helpers.js';

let db: TestDatabase;
let p: Portal;
beforeAll(async () => {
  db = await createTestDatabase();
  p = await startPortal(db.url, { schema: 'faults' });
});
afterAll(async () => {
  await p?.stop();
  await db?.drop();
});

const titles = async () => (await p.rest('crm.company.list', { select: ['TITLE'], order: { ID: 'ASC' } })).json.result.map((c: { TITLE: string }) => c.TITLE);
const lastTitle = async () => (await titles()).at(-1);

describe('fault injection', () => {
  it('drops the response after committing: the client sees a closed connection, the company exists once', async () => {
    p.sandbox.inject({ kind: 'drop', method: 'crm.company.add' });
    await expect(p.rest('crm.company.add', { fields: { TITLE: 'dropped but committed' } })).rejects.toThrow();
    expect(await lastTitle()).toBe('dropped but committed');
    const after = await p.rest('crm.company.add', { fields: { TITLE: 'answered' } });
    expect(after.status).toBe(200);
    const [dropped] = await p.sandbox.calls({ method: 'crm.company.add' });
    expect(dropped).toMatchObject({ fault: 'drop', status: 0, params: { fields: { TITLE: 'dropped but committed' } } });
  });

  it('drops a batch carrying the method after the whole batch committed, for the next N calls', async () => {
    p.sandbox.inject({ kind: 'drop', method: 'crm.requisite.add', times: 2 });
    const chain = (title: string) => ({ cmd: { c: `crm.company.add?fields[TITLE]=${title}`, r: 'crm.requisite.add?fields[ENTITY_TYPE_ID]=4&fields[ENTITY_ID]=$result[c]&fields[PRESET_ID]=5&fields[NAME]=R&fields[RQ_INN]=7707083893' } });
    await expect(p.rest('batch', chain('batch one'))).rejects.toThrow();
    await expect(p.rest('batch', chain('batch two'))).rejects.toThrow();
    expect((await p.rest('batch', chain('batch three'))).status).toBe(200);
    expect((await titles()).slice(-3)).toEqual(['batch one', 'batch two', 'batch three']);
    const requisites = await p.rest('crm.requisite.list', { filter: { RQ_INN: '7707083893' } });
    expect(requisites.json.total).toBe(3);
    const batches = await p.sandbox.calls({ method: 'crm.requisite.add', withinBatch: true });
    expect(batches.map((c) => c.fault)).toEqual(['drop', 'drop', null]);
    expect(batches[0]!.commands.map((c) => c.method)).toEqual(['crm.company.add', 'crm.requisite.add']);
    expect(batches[0]!.commands[1]!.params).toMatchObject({ fields: { ENTITY_ID: expect.any(Number) } });
  });

  it('answers HTML 502 before running the call and HTML 504 after committing it', async () => {
    p.sandbox.inject({ kind: 'html', status: 502, method: 'crm.company.add' });
    const bad = await p.call('crm.company.add', { contentType: 'application/json', body: JSON.stringify({ fields: { TITLE: 'never' } }) });
    expect(bad.status).toBe(502);
    expect(bad.contentType).toBe('text/html');
    expect(bad.text).toContain('<title>502 Bad Gateway</title>');
    expect(await titles()).not.toContain('never');

    p.sandbox.inject({ kind: 'html', status: 504, method: 'crm.company.add', afterCommit: true });
    const timeout = await p.call('crm.company.add', { contentType: 'application/json', body: JSON.stringify({ fields: { TITLE: 'behind a 504' } }) });
    expect(timeout.status).toBe(504);
    expect(timeout.text).toContain('504 Gateway Time-out');
    expect(await lastTitle()).toBe('behind a 504');
  });

  it('answers 503 OVERLOAD_LIMIT and 401 expired_token without running the call, then normally', async () => {
    p.sandbox.inject({ kind: 'overload' }, { kind: 'expired-token' });
    expect(await p.rest('crm.company.add', { fields: { TITLE: 'overloaded' } })).toEqual({
      status: 503, json: { error: 'OVERLOAD_LIMIT', error_description: 'REST API is blocked due to overload' },
    });
    expect(await p.rest('crm.company.add', { fields: { TITLE: 'expired' } })).toEqual({
      status: 401, json: { error: 'expired_token', error_description: 'The access token provided has expired.' },
    });
    expect((await p.rest('crm.company.add', { fields: { TITLE: 'fine' } })).status).toBe(200);
    expect(await titles()).not.toContain('overloaded');
    expect(await lastTitle()).toBe('fine');
  });

  it('waits before answering under latency', async () => {
    p.sandbox.inject({ kind: 'latency', ms: 400, method: 'crm.company.list' });
    const started = Date.now();
    expect((await p.rest('crm.company.list')).status).toBe(200);
    expect(Date.now() - started).toBeGreaterThanOrEqual(400);
  });

  it('stopping while requests are served answers them and commits their writes before its database closes', async () => {
    const logged: string[] = [];
    const own = await startPortal(db.url, { schema: 'faults_stop', log: (line) => logged.push(line) });
    own.sandbox.inject({ kind: 'latency', ms: 600, method: 'crm.company.add', times: 3 });
    const adds = [1, 2, 3].map((n) => own.rest('crm.company.add', { fields: { TITLE: `during stop ${n}` } }));
    await new Promise((resolve) => setTimeout(resolve, 200));
    await own.stop();
    expect((await Promise.all(adds)).map((a) => a.status)).toEqual([200, 200, 200]);
    expect(logged.filter((line) => /Cannot use a pool|INTERNAL/.test(line))).toEqual([]);
    const again = await startPortal(db.url, { schema: 'faults_stop' });
    try {
      const { json } = await again.rest('crm.company.list', { select: ['TITLE'], order: { ID: 'ASC' } });
      // three requests at once: committed in whatever order they reached the database
      expect(json.result.map((c: { TITLE: string }) => c.TITLE).sort()).toEqual(['during stop 1', 'during stop 2', 'during stop 3']);
    } finally {
      await again.stop();
    }
  });

  it('takes faults and shows the call log over its admin endpoint, with the secret in the path', async () => {
    const secret = p.sandbox.webhookUrl.split('/').at(-2)!;
    const admin = (path: string, init: { method?: 'GET' | 'POST'; body?: string } = {}) => p.call(`/_sandbox/${path}`, { method: init.method ?? 'GET', contentType: 'application/json', body: init.body });
    expect((await admin('wrongsecret/faults', { method: 'POST', body: '[{"kind":"overload"}]' })).status).toBe(403);
    const refused = await admin(`${secret}/faults`, { method: 'POST', body: '{"kind":"html","status":500}' });
    expect(refused.status).toBe(400);
    expect(refused.json.error).toContain('502 or 504');
    const added = await admin(`${secret}/faults`, { method: 'POST', body: '[{"kind":"overload","method":"crm.deal.add","times":2}]' });
    expect(added.json.pending).toEqual([{ kind: 'overload', method: 'crm.deal.add', times: 2 }]);
    expect((await p.rest('crm.company.list')).status).toBe(200);
    expect((await p.rest('crm.deal.add', { fields: {} })).status).toBe(503);
    expect((await admin(`${secret}/faults`)).json).toEqual([{ kind: 'overload', method: 'crm.deal.add', times: 1 }]);
    const log = await admin(`${secret}/calls?method=crm.deal.add`);
    expect(log.json).toHaveLength(1);
    expect(log.json[0]).toMatchObject({ method: 'crm.deal.add', status: 503, error: 'OVERLOAD_LIMIT', fault: 'overload', client: '127.0.0.1' });
  });
});
