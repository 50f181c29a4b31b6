import { parseArgs } from 'node:util';
import { startSandbox, type SandboxOptions } from '../crm/sandbox/index.js';
import { openDatabase, redactUrl } from '../db/connection.js';
import { UsageError, log } from './context.js';

const USAGE = `usage: b2b-etl sandbox [--port N] [--plan standard|enterprise] [--http] [--host H] [options]
  a local Bitrix24 portal (REST webhook API) with its data in PostgreSQL (DATABASE_URL, or the embedded one)
  --schema NAME               its schema (default bitrix_sandbox); a restart keeps the portal's contents
  --secret S                  the webhook secret (default: made up on first start, then kept)
  --cert-dir DIR              where the self-signed certificate is kept (default .data/sandbox)
  --bucket-size N --drain N   the request bucket (default by plan: 50 and 2/s, enterprise 250 and 5/s)
  --operating-limit S         seconds of execution a method may use per window (default 480)
  --operating-window S        the window (default 600)
  --command-seconds S         simulated execution time charged per command (default: the real time)
  --import-item-seconds S     simulated time per imported item (default 1.19)
  --batch-charge inner|batch  which method a batch is charged to (default inner, as the docs say)
  --no-import-right           the webhook's user lacks the import right
  --auth-error-status 401|403 status of INVALID_CREDENTIALS (default 401, as the server code does)
  --https-required            over --http, refuse webhooks with "Https required." as the cloud does`;

function number(value: string | undefined, name: string, check: (n: number) => boolean = (n) => n >= 0): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isFinite(n) || !check(n)) throw new UsageError(`${name} must be a number, got '${value}'\n${USAGE}`);
  return n;
}

function oneOf<T extends string>(value: string | undefined, name: string, allowed: readonly T[]): T | undefined {
  if (value === undefined) return undefined;
  if (!allowed.includes(value as T)) throw new UsageError(`${name} must be one of ${allowed.join(', ')}, got '${value}'`);
  return value as T;
}

/** `b2b-etl sandbox`: serves the sandbox portal until SIGTERM or SIGINT. */
export async function sandboxCommand(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      port: { type: 'string' }, plan: { type: 'string' }, http: { type: 'boolean', default: false }, host: { type: 'string' },
      schema: { type: 'string' }, secret: { type: 'string' }, 'cert-dir': { type: 'string' },
      'bucket-size': { type: 'string' }, drain: { type: 'string' }, 'operating-limit': { type: 'string' },
      'operating-window': { type: 'string' }, 'command-seconds': { type: 'string' }, 'import-item-seconds': { type: 'string' },
      'batch-charge': { type: 'string' }, 'no-import-right': { type: 'boolean', default: false },
      'auth-error-status': { type: 'string' }, 'https-required': { type: 'boolean', default: false }, help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const plan = oneOf(values.plan, '--plan', ['standard', 'enterprise'] as const) ?? 'standard';
  const size = number(values['bucket-size'], '--bucket-size', (n) => n >= 1);
  const drain = number(values.drain, '--drain', (n) => n > 0);
  if (values.secret !== undefined && !/^[A-Za-z0-9]{8,64}$/.test(values.secret)) throw new UsageError('--secret must be 8 to 64 letters and digits');
  const options: Omit<SandboxOptions, 'databaseUrl'> = {
    schema: values.schema,
    host: values.host,
    port: number(values.port, '--port', (n) => Number.isInteger(n) && n >= 0 && n < 65536),
    https: !values.http,
    certDir: values['cert-dir'],
    plan,
    bucket: size !== undefined || drain !== undefined ? { size: size ?? (plan === 'enterprise' ? 250 : 50), drainPerSecond: drain ?? (plan === 'enterprise' ? 5 : 2) } : undefined,
    operating: {
      limitSeconds: number(values['operating-limit'], '--operating-limit', (n) => n > 0),
      windowSeconds: number(values['operating-window'], '--operating-window', (n) => n > 0),
      commandSeconds: number(values['command-seconds'], '--command-seconds'),
      importItemSeconds: number(values['import-item-seconds'], '--import-item-seconds'),
      charge: oneOf(values['batch-charge'], '--batch-charge', ['inner', 'batch'] as const),
    },
    importRight: !values['no-import-right'],
    secret: values.secret,
    authErrorStatus: oneOf(values['auth-error-status'], '--auth-error-status', ['401', '403'] as const) === '403' ? 403 : 401,
    httpsRequired: values['https-required'],
    log,
  };
  const db = await openDatabase({ log });
  try {
    const sandbox = await startSandbox({ ...options, databaseUrl: db.url }).catch((e: unknown) => {
      const code = (e as { code?: string }).code;
      if (code === 'EADDRINUSE' || code === 'EACCES') throw new UsageError(`sandbox: cannot listen on ${options.host ?? '127.0.0.1'}:${options.port ?? 0}: ${code === 'EADDRINUSE' ? 'the port is in use' : 'permission denied'}; choose another with --port`);
      if (code === 'ECONNREFUSED' || code === '28P01' || code === '3D000') throw new UsageError(`sandbox: cannot use the database at DATABASE_URL ${redactUrl(db.url)}: ${(e as Error).message}`);
      throw e;
    });
    log(`sandbox portal (${plan} plan) at ${sandbox.url}, its data in schema ${options.schema ?? 'bitrix_sandbox'} of ${redactUrl(db.url)}`);
    if (sandbox.certFile) log(`certificate: ${sandbox.certFile} (trust it with NODE_EXTRA_CA_CERTS=${sandbox.certFile})`);
    log(`faults and the call log: ${sandbox.url}/_sandbox/<secret>/faults and /calls; SIGTERM or Ctrl-C stops it`);
    // listening for the signal before the URL is out: whoever reads it may stop us at once
    const stopped = new Promise<void>((resolve) => {
      process.once('SIGTERM', () => resolve());
      process.once('SIGINT', () => resolve());
    });
    process.stdout.write(`${sandbox.webhookUrl}\n`);
    await stopped;
    await sandbox.stop();
    log('sandbox: stopped');
  } finally {
    await db.close();
  }
  return 0;
}
