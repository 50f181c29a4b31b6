import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { startPortal, type Portal } from './helpers.js';

const CLIENT = fileURLToPath(new URL('./b24jssdk-client.mjs', import.meta.url));

let db: TestDatabase;
let p: Portal;
beforeAll(async () => {
  db = await createTestDatabase();
  p = await startPortal(db.url, { schema: 'jssdk' });
});
afterAll(async () => {
  await p?.stop();
  await db?.drop();
});

function runClient(env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLIENT], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('the official @bitrix24/b24jssdk against the sandbox', () => {
  it('passes the SDK\'s health check and ping, makes single calls, a batch with a $result reference and a full fetchList export over HTTPS, and gets what a portal gives', async () => {
    // 120 companies already in the portal, so the export needs three pages
    for (let start = 0; start < 120; start += 50) {
      const cmd = Object.fromEntries(Array.from({ length: Math.min(50, 120 - start) }, (_, i) => [`c${start + i}`, `crm.company.add?fields[TITLE]=Existing ${start + i}`]));
      expect((await p.rest('batch', { cmd })).status).toBe(200);
    }
    const { code, stdout, stderr } = await runClient({ SANDBOX_WEBHOOK_URL: p.sandbox.webhookUrl, NODE_EXTRA_CA_CERTS: p.sandbox.certFile! });
    expect(code, stderr).toBe(0);
    const out = JSON.parse(stdout);

    expect(out.health).toBe(true);
    expect(out.ping).toBeGreaterThanOrEqual(0);
    expect((await p.sandbox.calls({ method: 'server.time' })).map((c) => c.status)).toEqual([200, 200]);

    expect(out.added).toBe(121);
    expect(out.got).toMatchObject({ ID: '121', TITLE: 'SDK & Co', PHONE: [{ VALUE: '+79990000000', VALUE_TYPE: 'WORK', TYPE_ID: 'PHONE' }] });
    expect(out.presetId).not.toBe('1');

    expect(out.batch.isSuccess).toBe(true);
    expect(out.batch.data.co).toBe(122);
    expect(out.batch.data.rq).toBe(1);
    expect(out.batch.data.find).toEqual([{ ID: '1', ENTITY_ID: '122' }]);
    const requisite = await p.rest('crm.requisite.get', { id: 1 });
    expect(requisite.json.result).toMatchObject({ ENTITY_ID: '122', ENTITY_TYPE_ID: '4', PRESET_ID: out.presetId, RQ_INN: '7707083893' });
    expect((await p.rest('crm.company.get', { id: 122 })).json.result.TITLE).toBe('Chain & Sons');
    expect(out.items).toEqual([{ id: 121, title: 'SDK & Co' }, { id: 122, title: 'Chain & Sons' }]);

    // a legacy crm.* error has an empty code; the SDK then keeps axios' own code and message
    // (parse-error-payload.mjs takes only a non-empty `error`), so it sees the 400 alone
    expect(out.missing).toMatchObject({ status: 400, code: 'ERR_BAD_REQUEST' });
    const [missing] = (await p.sandbox.calls({ method: 'crm.company.get' })).filter((c) => c.status === 400);
    expect(missing).toMatchObject({ error: '', errorDescription: 'Not found', params: { id: 999999 } });

    expect(out.listed).toEqual(Array.from({ length: 122 }, (_, i) => i + 1));
    // fetchList pages with start=-1 and a >ID filter, as the docs' fast export does
    const pages = (await p.sandbox.calls({ method: 'crm.company.list' })).map((c) => c.params as Record<string, any>);
    expect(pages).toHaveLength(3);
    expect(pages.map((page) => [page.start, page.filter['>ID'], page.order.ID])).toEqual([[-1, 0, 'ASC'], [-1, 50, 'ASC'], [-1, 100, 'ASC']]);
  });

  it('cannot reach the sandbox without trusting its certificate', async () => {
    const { code, stderr } = await runClient({ SANDBOX_WEBHOOK_URL: p.sandbox.webhookUrl, NODE_EXTRA_CA_CERTS: '' });
    expect(code).not.toBe(0);
    expect(stderr).toMatch(/self[- ]signed|certificate/i);
  });
});
