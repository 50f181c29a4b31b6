import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { PushStoppedError } from '../../src/crm/portal-client.js';
import { push } from '../../src/crm/push.js';
import { parseWebhook } from '../../src/crm/webhook.js';
import type { TestDatabase } from '../helpers/db.js';
import { readySample, testPortal, type TestPortal } from './helpers.js';

// A webhook setting that cannot work: said at once, in one sentence naming what to fix,
// with the secret nowhere in it; nothing is retried that waiting cannot mend.

const SECRET = 'Zq7secretPart91';

describe('a malformed BITRIX24_WEBHOOK_URL', () => {
  it('is refused without echoing it: where the URL is broken, any part of it may be the secret', () => {
    for (const url of [`not a url ${SECRET}`, `https://portal.example/${SECRET}`, `https://portal.example/hook/${SECRET}/crm`]) {
      let message = '';
      try {
        parseWebhook(url);
      } catch (e) {
        message = (e as Error).message;
      }
      expect(message, url).toMatch(/^BITRIX24_WEBHOOK_URL .*expected (https:\/\/PORTAL|the path )\/rest\/USER_ID\/SECRET\//);
      expect(message, url).not.toContain(SECRET);
    }
    expect(parseWebhook(`https://portal.example/rest/7/${SECRET}/`).shown).toBe('https://portal.example/rest/7/***/');
  });
});

describe('a webhook whose portal cannot be reached as written', () => {
  let db: TestDatabase;
  let https: TestPortal;
  let http: TestPortal;
  beforeAll(async () => {
    ({ db } = await readySample(53, { companies: 10, contacts: 20 }));
    https = await testPortal(db);
    http = await testPortal(db, { https: false });
  });
  afterAll(async () => {
    await https?.stop();
    await http?.stop();
    await db?.drop();
  });

  /** The push's refusal, and how long it took to say it. */
  async function refusal(webhookUrl: string, ca?: string): Promise<{ message: string; seconds: number }> {
    const started = Date.now();
    const error = await push(db.pool, { webhookUrl, ca, progressSeconds: 0 }).then(() => null, (e: unknown) => e);
    expect(error).toBeInstanceOf(PushStoppedError);
    return { message: (error as Error).message, seconds: (Date.now() - started) / 1000 };
  }

  it('a self-signed certificate nobody trusts: stops at once and says how to trust it', async () => {
    const { message, seconds } = await refusal(https.sandbox.webhookUrl);
    expect(message).toMatch(/certificate is not trusted: .*NODE_EXTRA_CA_CERTS .*crm\.caFile.*\(DEPTH_ZERO_SELF_SIGNED_CERT\)$/);
    expect(seconds).toBeLessThan(10);
    expect(Number((await https.db.query('select count(*) from call')).rows[0].count)).toBe(0);
  });

  it('a host that does not resolve: stops at once naming the host and the setting', async () => {
    const { message, seconds } = await refusal(`https://no-such-portal.invalid/rest/1/${SECRET}/`);
    expect(message).toMatch(/no such host no-such-portal\.invalid: check the host in BITRIX24_WEBHOOK_URL \(ENOTFOUND\)$/);
    expect(message).not.toContain(SECRET);
    expect(seconds).toBeLessThan(10);
  });

  it('https:// to a portal that speaks plain http: stops at once naming the scheme', async () => {
    const { message, seconds } = await refusal(http.sandbox.webhookUrl.replace(/^http:/, 'https:'));
    expect(message).toMatch(/does not speak https: check the scheme and port in BITRIX24_WEBHOOK_URL/);
    expect(seconds).toBeLessThan(10);
    expect(Number((await http.db.query('select count(*) from call')).rows[0].count)).toBe(0);
  });
});

describe('the crm section of the config file', () => {
  it('reads crm.caFile beside the config file; a missing or non-certificate file, or a portal name with control characters, is a configuration problem (exit 2)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'b2b-etl-crm-config-'));
    const config = join(dir, 'b2b-etl.config.json');
    const webhook = { BITRIX24_WEBHOOK_URL: 'https://127.0.0.1:9/rest/1/secret0123/', B2B_ETL_CONFIG: config };
    writeFileSync(config, JSON.stringify({ crm: { caFile: 'missing.pem' } }));
    const missing = await runCli(['push'], process.env.DATABASE_URL!, webhook);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain(`crm.caFile: cannot read ${join(dir, 'missing.pem')} (ENOENT)`);
    writeFileSync(join(dir, 'not-a-cert.pem'), '{"hello": "world"}');
    writeFileSync(config, JSON.stringify({ crm: { caFile: 'not-a-cert.pem' } }));
    const notCert = await runCli(['push'], process.env.DATABASE_URL!, webhook);
    expect(notCert.code).toBe(2);
    expect(notCert.stderr).toContain(`crm.caFile: ${join(dir, 'not-a-cert.pem')} holds no PEM certificate`);
    writeFileSync(config, JSON.stringify({ crm: { portal: 'acme\u0000' } }));
    const control = await runCli(['push'], process.env.DATABASE_URL!, webhook);
    expect(control.code).toBe(2);
    expect(control.stderr).toMatch(/crm\.portal: .*without spaces, slashes or control characters/);
  });
});
