import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeServer, environmentSecrets, mask, maskUrl } from '../../src/secrets.js';
import { runCli } from '../helpers/cli.js';
import { databaseUrl } from '../helpers/db.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const SECRET = 'hunter2-Sekr3t';

/** DATABASE_URL's server, with the user and a password in the query string (the server trusts us, so any password works). */
function urlWithQueryPassword(database: string, parameter = 'password'): string {
  const url = new URL(databaseUrl(database));
  const user = url.username || 'postgres';
  url.username = '';
  url.password = '';
  url.search = `?user=${user}&${parameter}=${SECRET}`;
  return url.toString();
}

describe('masking secrets in text', () => {
  it('masks passwords in the userinfo and in query parameters of PostgreSQL and MySQL URLs', () => {
    expect(maskUrl(`postgres://u:${SECRET}@db:5432/x?sslmode=require`)).toBe('postgres://u:***@db:5432/x?sslmode=require');
    expect(maskUrl(`postgres://db/x?user=u&password=${SECRET}&sslpassword=${SECRET}&application_name=a`))
      .toBe('postgres://db/x?user=u&password=***&sslpassword=***&application_name=a');
    expect(maskUrl(`mysql://root:${SECRET}@10.0.0.5:3306/shop?password1=${SECRET}`)).toBe('mysql://root:***@10.0.0.5:3306/shop?password1=***');
  });

  it('masks the secret segment of a Bitrix24 webhook URL and keeps the method', () => {
    expect(maskUrl(`https://portal.bitrix24.ru/rest/1/${SECRET}/crm.company.add.json`)).toBe('https://portal.bitrix24.ru/rest/1/***/crm.company.add.json');
    expect(mask(`POST https://portal.bitrix24.ru/rest/17/${SECRET}/batch.json failed`, {})).toBe('POST https://portal.bitrix24.ru/rest/17/***/batch.json failed');
  });

  it('masks every secret the environment holds wherever a message quotes it, encoded or not', () => {
    const env = {
      DATABASE_URL: 'postgres://db/x?user=u&password=p%40ss-word',
      MYSQL_URL: `mysql://root:${SECRET}@h/x`,
      DADATA_TOKEN: 'dadata-token-123456',
      KAFKA_SASL_PASSWORD: 'kafka-sasl-secret',
      BITRIX24_WEBHOOK_URL: 'https://p.bitrix24.ru/rest/1/webhooksecret9/',
    };
    expect(environmentSecrets(env)).toEqual(expect.arrayContaining(['p@ss-word', 'p%40ss-word', SECRET, 'dadata-token-123456', 'kafka-sasl-secret', 'webhooksecret9']));
    const text = `auth failed for p@ss-word; ${SECRET}; Token dadata-token-123456; sasl kafka-sasl-secret; hook webhooksecret9`;
    const masked = mask(text, env);
    for (const secret of ['p@ss-word', SECRET, 'dadata-token-123456', 'kafka-sasl-secret', 'webhooksecret9']) expect(masked).not.toContain(secret);
    expect(masked).toBe('auth failed for ***; ***; Token ***; sasl ***; hook ***');
  });

  it('masks URL-shaped secrets that come from no variable', () => {
    expect(mask(`tried mysql://app:${SECRET}@h:3306/x and host=h password=${SECRET}`, {})).toBe('tried mysql://app:***@h:3306/x and host=h password=***');
  });

  it('masks passwords holding @ or /, and quoted keyword=value passwords', () => {
    expect(mask(`tried postgres://postgres:p@ss@${SECRET}@127.0.0.1:5499/x now`, {})).toBe('tried postgres://postgres:***@127.0.0.1:5499/x now');
    expect(mask(`tried mysql://root:pa/${SECRET}@127.0.0.1/x now`, {})).toBe('tried mysql://root:***@127.0.0.1/x now');
    expect(mask(`host=h password='a ${SECRET} \\' b' dbname=d`, {})).toBe('host=h password=*** dbname=d');
    // not a URL to the parser, but a client may read it: its password is still a secret of the environment
    expect(environmentSecrets({ MYSQL_URL: `mysql://root:pa/${SECRET}@127.0.0.1/x` })).toEqual([`pa/${SECRET}`]);
  });

  it('masks credentials written into KAFKA_BROKERS, by value and by shape', () => {
    const env = { KAFKA_BROKERS: `etl:${SECRET}@kafka1:9092, kafka2:9092` };
    expect(environmentSecrets(env)).toEqual([SECRET]);
    expect(mask(`broker said ${SECRET}`, env)).toBe('broker said ***');
    expect(mask('brokers user:pw@host:9092,kafka2:9092', {})).toBe('brokers user:***@host:9092,kafka2:9092');
  });
});

describe('commands never print a password', () => {
  const database = `b2b_etl_test_secrets_${process.pid}`;
  beforeAll(async () => {
    const admin = new pg.Client({ connectionString: process.env.DATABASE_URL });
    await admin.connect();
    await admin.query(`drop database if exists ${database}`);
    await admin.query(`create database ${database}`);
    await admin.end();
  });
  afterAll(async () => {
    const admin = new pg.Client({ connectionString: process.env.DATABASE_URL });
    await admin.connect();
    await admin.query(`drop database if exists ${database} with (force)`);
    await admin.end();
  });

  it('status on a database not migrated yet names it without the query-string password', async () => {
    const result = await runCli(['status'], urlWithQueryPassword(database));
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/migrations pending: run b2b-etl migrate/);
    expect(result.stderr).not.toContain(SECRET);
  });

  it('migrate reports the database it migrated without the password (password and sslpassword in the query)', async () => {
    const result = await runCli(['migrate'], urlWithQueryPassword(database));
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toMatch(new RegExp(`migrated .*/${database}`));
    expect(result.stderr).not.toContain(SECRET);
    const again = await runCli(['status'], urlWithQueryPassword(database, 'sslpassword'));
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout + again.stderr).not.toContain(SECRET);
  });
});

/** .ci/run's functions, sourced: its wait for the databases with a one-second limit. */
function ciWait(env: Record<string, string>): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn('bash', ['-c', 'source .ci/run && wait_for_databases'], { cwd: ROOT, env: { ...process.env, WAIT_SECONDS: '1', ...env } });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdout.resume();
    child.on('close', (code) => resolve({ code, stderr }));
  });
}

describe('.ci/run', () => {
  it('names the PostgreSQL server it waited for without its password', async () => {
    const result = await ciWait({ DATABASE_URL: `postgres://ci:${SECRET}@127.0.0.1:1/test?password=${SECRET}` });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('PostgreSQL at 127.0.0.1:1/test as ci (DATABASE_URL) did not answer');
    expect(result.stderr).not.toContain(SECRET);
  });

  it('names the MySQL server it waited for — its host and user, never the password', async () => {
    const result = await ciWait({ DATABASE_URL: process.env.DATABASE_URL!, MYSQL_URL: `mysql://root:${SECRET}@127.0.0.1:1/test` });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('MySQL at 127.0.0.1:1/test as root (MYSQL_URL) did not answer');
    expect(result.stderr).not.toContain(SECRET);
    expect(result.stderr).not.toContain('root:');
  });

  it('says where a server is exactly as the CLI does, for every shape of setting, never a password', async () => {
    const settings: Array<[string, number]> = [
      [`postgres://postgres:p@ss@${SECRET}@127.0.0.1:5499/x`, 5432],
      [`mysql://root:pa/${SECRET}@127.0.0.1:3306/test`, 3306],
      [`host=127.0.0.1 port=5499 dbname=x user=etl password=${SECRET}`, 5432],
      [`host=db password='${SECRET} x' dbname=shop`, 5432],
      [`postgres://db/x?user=u&password=${SECRET}`, 5432],
      [`mysql://root:${SECRET}@10.0.0.5/shop`, 3306],
    ];
    for (const [value, port] of settings) {
      const said = await new Promise<string>((resolve) => {
        const child = spawn('bash', ['-c', `source .ci/run && server_of SETTING ${port}`], { cwd: ROOT, env: { ...process.env, SETTING: value } });
        let stdout = '';
        child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
        child.on('close', () => resolve(stdout));
      });
      expect(said, value).toBe(describeServer(value, port));
      expect(said, value).not.toContain(SECRET);
    }
    expect(describeServer(`host=127.0.0.1 port=5499 dbname=x user=etl password=${SECRET}`, 5432)).toBe('127.0.0.1:5499/x as etl');
  });
});
