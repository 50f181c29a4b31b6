import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { projectRoot } from '../../src/db/paths.js';
import { runCli, startCli } from '../helpers/cli.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { DOCS_IMPORT_ITEM_SECONDS, TRYING_IMPORT_ITEM_SECONDS } from '../../src/sandbox/index.js';
import { startPortal } from './helpers.js';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db?.drop();
});

describe('the sandbox keeps its portal', () => {
  it('keeps the contents, the webhook secret and the certificate across a restart', async () => {
    const first = await startPortal(db.url, { schema: 'kept' });
    const added = await first.rest('crm.company.add', { fields: { TITLE: 'Survivor', PHONE: [{ VALUE: '+79990001234' }] } });
    expect(added.status).toBe(200);
    const { webhookUrl, certFile } = first.sandbox;
    const pem = readFileSync(certFile!, 'utf8');
    await first.stop();

    const second = await startPortal(db.url, { schema: 'kept' });
    try {
      expect(second.sandbox.webhookUrl.split('/').slice(-3)).toEqual(webhookUrl.split('/').slice(-3));
      expect(readFileSync(second.sandbox.certFile!, 'utf8')).toBe(pem);
      const found = await second.rest('crm.company.get', { id: added.json.result });
      expect(found.json.result).toMatchObject({ TITLE: 'Survivor', PHONE: [{ VALUE: '+79990001234' }] });
      // the schema version is kept, so nothing is applied twice
      const files = readdirSync(join(projectRoot(), 'src', 'sandbox', 'schema')).filter((f) => /^\d+_.*\.sql$/.test(f)).sort();
      expect(await db.rows('select version from kept.schema_version order by version')).toEqual(files.map((f) => ({ version: Number.parseInt(f, 10) })));
      expect(await db.value('select count(*)::int from kept.requisite_preset')).toBe(9);
      expect((await second.sandbox.calls()).map((c) => c.method)).toEqual(['crm.company.add', 'crm.company.get']);
    } finally {
      await second.stop();
    }
  });

  it('uses a given secret and answers the old one with INVALID_CREDENTIALS', async () => {
    const p = await startPortal(db.url, { schema: 'given', secret: 'givensecret12345' });
    try {
      expect(p.sandbox.webhookUrl).toMatch(/\/rest\/1\/givensecret12345\/$/);
      expect((await p.call('/rest/1/othersecret12345/crm.company.list')).status).toBe(401);
    } finally {
      await p.stop();
    }
  });

  it('serves plain HTTP when asked, and refuses webhooks there with "Https required." when the cloud rule is on', async () => {
    const plain = await startPortal(db.url, { schema: 'plain', https: false });
    const strict = await startPortal(db.url, { schema: 'plain', https: false, httpsRequired: true });
    try {
      expect(plain.sandbox.url).toMatch(/^http:\/\//);
      expect(plain.sandbox.certFile).toBeNull();
      expect((await plain.rest('crm.company.list')).status).toBe(200);
      expect(await strict.rest('crm.company.list')).toEqual({ status: 400, json: { error: 'INVALID_REQUEST', error_description: 'Https required.' } });
    } finally {
      await plain.stop();
      await strict.stop();
    }
  });
});

describe('b2b-etl sandbox', () => {
  it('prints its webhook URL, serves until SIGTERM and exits 0', async () => {
    const certDir = mkdtempSync(join(tmpdir(), 'b2b-etl-sandbox-cli-'));
    const { child, done } = startCli(['sandbox', '--schema', 'cli', '--port', '0', '--cert-dir', certDir, '--plan', 'enterprise'], db.url);
    const line = await new Promise<string>((resolve, reject) => {
      createInterface({ input: child.stdout! }).once('line', resolve);
      setTimeout(() => reject(new Error('no webhook URL within 60 s')), 60_000);
    });
    expect(line).toMatch(/^https:\/\/127\.0\.0\.1:\d+\/rest\/1\/[a-z0-9]{16}\/$/);
    child.kill('SIGTERM');
    const result = await done;
    expect(result.code).toBe(0);
    expect(result.stderr).toContain(`certificate: ${join(certDir, 'sandbox-cert.pem')}`);
    expect(result.stderr).toContain('(enterprise plan)');
    // what it simulates, and the switches that change it, before the URL
    expect(result.stderr).toContain('a bucket of 250 requests per client IP, draining 5/s (--plan, --bucket-size, --drain)');
    expect(result.stderr).toContain('480 s of operating time per method per 600 s (--operating-limit, --operating-window)');
    expect(result.stderr).toContain('import costs 0.01 s of operating time per item (--import-item-seconds; the docs\' example: 1.19)');
    expect(result.stderr).toContain('other commands their real time (--command-seconds)');
  });

  it('charges what it is told per imported item, takes the webhook\'s scopes, and startSandbox() keeps the docs\' figure', async () => {
    const args = ['sandbox', '--schema', 'cli_cost', '--port', '0', '--http', '--import-item-seconds', '1.19', '--command-seconds', '0.2', '--scopes', 'crm,user_brief'];
    const { child, done } = startCli(args, db.url);
    const webhook = await new Promise<string>((resolve) => createInterface({ input: child.stdout! }).once('line', resolve));
    expect((await fetch(`${webhook}user.current`)).status).toBe(200);
    child.kill('SIGTERM');
    const result = await done;
    expect(result.stderr).toContain('import costs 1.19 s of operating time per item');
    expect(result.stderr).toContain('other commands 0.2 s each');
    const p = await startPortal(db.url, { schema: 'cli_cost_default', https: false });
    try {
      expect(p.sandbox.limits.importItemSeconds).toBe(DOCS_IMPORT_ITEM_SECONDS);
      expect(DOCS_IMPORT_ITEM_SECONDS).toBe(1.19);
      expect(TRYING_IMPORT_ITEM_SECONDS).toBe(0.01);
    } finally {
      await p.stop();
    }
  });

  it('refuses a bad option in one sentence, without a stack trace', async () => {
    const result = await runCli(['sandbox', '--plan', 'gold'], db.url);
    expect(result.code).toBe(2);
    expect(result.stderr).toBe("b2b-etl sandbox: option '--plan <plan>' argument 'gold' is invalid. Allowed choices are standard, enterprise; see b2b-etl sandbox --help\n");
  });
});
