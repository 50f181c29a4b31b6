import { InvalidArgumentError, Option, type Command } from 'commander';
import { DOCS_IMPORT_ITEM_SECONDS, TRYING_IMPORT_ITEM_SECONDS } from '../sandbox/costs.js';
import type { SandboxOptions, SimulatedLimits } from '../sandbox/index.js';
import { openDatabase, redactUrl } from '../db/connection.js';
import { UsageError, log } from './context.js';
import { action, nonNegativeNumber, positiveInt, positiveNumber } from './define.js';

interface SandboxFlags {
  port?: number;
  plan: 'standard' | 'enterprise';
  http: boolean;
  host?: string;
  schema?: string;
  secret?: string;
  certDir?: string;
  bucketSize?: number;
  drain?: number;
  operatingLimit?: number;
  operatingWindow?: number;
  commandSeconds?: number;
  importItemSeconds?: number;
  batchCharge?: 'inner' | 'batch';
  importRight: boolean;
  authErrorStatus: '401' | '403';
  httpsRequired: boolean;
  scopes?: string[];
}

function port(value: string): number {
  const n = Number(value);
  if (!(/^\d+$/.test(value) && n < 65536)) throw new InvalidArgumentError('Expected a port from 0 to 65535 (0: any free one).');
  return n;
}

function scopes(value: string): string[] {
  const list = value.split(',').map((scope) => scope.trim()).filter(Boolean);
  if (!list.every((scope) => /^[a-z_.]+$/.test(scope))) throw new InvalidArgumentError('Expected scope names separated by commas, such as crm,user_brief.');
  return list;
}

function secret(value: string): string {
  if (!/^[A-Za-z0-9]{8,64}$/.test(value)) throw new InvalidArgumentError('Expected 8 to 64 letters and digits.');
  return value;
}

/** `b2b-etl sandbox`: serves the sandbox portal until SIGTERM or SIGINT. */
export function defineSandbox(program: Command): void {
  program
    .command('sandbox')
    .summary('a local Bitrix24 portal (its REST webhook API) to push to and test against')
    .description('Serves a local imitation of a Bitrix24 portal\'s REST webhook API until SIGTERM or SIGINT, with its data in ' +
      'PostgreSQL (DATABASE_URL, or the embedded one), and prints its webhook URL. HTTPS with a self-signed certificate made ' +
      'on first start; Node clients trust it with NODE_EXTRA_CA_CERTS.')
    .option('--port <n>', 'the port (default: a free one)', port)
    .addOption(new Option('--plan <plan>', 'the portal\'s plan: its request bucket').choices(['standard', 'enterprise']).default('standard'))
    .option('--http', 'serve plain HTTP instead of HTTPS', false)
    .option('--host <host>', 'the address to listen on (default 127.0.0.1)')
    .option('--schema <name>', 'its schema (default bitrix_sandbox); a restart keeps the portal\'s contents')
    .option('--secret <s>', 'the webhook secret (default: made up on first start, then kept)', secret)
    .option('--cert-dir <dir>', 'where the self-signed certificate is kept (default .data/sandbox)')
    .option('--bucket-size <n>', 'requests the bucket holds (default by plan: 50, enterprise 250)', positiveInt)
    .option('--drain <n>', 'requests per second the bucket drains (default by plan: 2, enterprise 5)', positiveNumber)
    .option('--operating-limit <s>', 'seconds of execution a method may use per window (default 480)', positiveNumber)
    .option('--operating-window <s>', 'the window (default 600)', positiveNumber)
    .option('--command-seconds <s>', 'simulated execution time charged per command (default: the real time)', nonNegativeNumber)
    .option('--import-item-seconds <s>', `simulated time per imported item (default ${TRYING_IMPORT_ITEM_SECONDS}, for trying; the docs' example: ${DOCS_IMPORT_ITEM_SECONDS})`, nonNegativeNumber)
    .addOption(new Option('--batch-charge <method>', 'which method a batch is charged to (default inner, as the docs say)').choices(['inner', 'batch']))
    .option('--no-import-right', 'the webhook\'s user lacks the import right')
    .addOption(new Option('--auth-error-status <status>', 'status of INVALID_CREDENTIALS (401 as the server code does)').choices(['401', '403']).default('401'))
    .option('--https-required', 'over --http, refuse webhooks with "Https required." as the cloud does', false)
    .option('--scopes <list>', 'the webhook\'s scopes (default crm; user.current needs user, user_brief or user_basic)', scopes)
    .action(action((flags: SandboxFlags) => sandboxCommand(flags)));
}

/** What the portal simulates, in a few lines, each with the switches that change it. */
function simulated(limits: SimulatedLimits): string[] {
  const { bucket, operating, importItemSeconds, commandSeconds } = limits;
  const commands = commandSeconds === undefined ? 'their real time'
    : typeof commandSeconds === 'number' ? `${commandSeconds} s each`
      : Object.entries(commandSeconds).map(([method, seconds]) => `${method} ${seconds} s`).join(', ');
  return [
    `simulates: a bucket of ${bucket.size} requests per client IP, draining ${bucket.drainPerSecond}/s (--plan, --bucket-size, --drain);`,
    `  ${operating.limitSeconds} s of operating time per method per ${operating.windowSeconds} s (--operating-limit, --operating-window), ` +
      `a batch charged to ${operating.charge === 'inner' ? 'its inner methods' : 'method batch'} (--batch-charge);`,
    `  import costs ${importItemSeconds} s of operating time per item (--import-item-seconds; the docs' example: ${DOCS_IMPORT_ITEM_SECONDS}), ` +
      `other commands ${commands} (--command-seconds)`,
  ];
}

async function sandboxCommand(flags: SandboxFlags): Promise<number> {
  const { plan } = flags;
  const bucket = flags.bucketSize !== undefined || flags.drain !== undefined
    ? { size: flags.bucketSize ?? (plan === 'enterprise' ? 250 : 50), drainPerSecond: flags.drain ?? (plan === 'enterprise' ? 5 : 2) }
    : undefined;
  const options: Omit<SandboxOptions, 'databaseUrl'> = {
    schema: flags.schema,
    host: flags.host,
    port: flags.port,
    https: !flags.http,
    certDir: flags.certDir,
    plan,
    bucket,
    operating: {
      limitSeconds: flags.operatingLimit,
      windowSeconds: flags.operatingWindow,
      commandSeconds: flags.commandSeconds,
      importItemSeconds: flags.importItemSeconds ?? TRYING_IMPORT_ITEM_SECONDS,
      charge: flags.batchCharge,
    },
    importRight: flags.importRight,
    secret: flags.secret,
    authErrorStatus: flags.authErrorStatus === '403' ? 403 : 401,
    httpsRequired: flags.httpsRequired,
    scopes: flags.scopes,
    log,
  };
  // the portal's modules (certificates, the HTTP server) load only for this command
  const { startSandbox } = await import('../sandbox/index.js');
  const db = await openDatabase({ log });
  try {
    const sandbox = await startSandbox({ ...options, databaseUrl: db.url }).catch((e: unknown) => {
      const code = (e as { code?: string }).code;
      if (code === 'EADDRINUSE' || code === 'EACCES') throw new UsageError(`sandbox: cannot listen on ${options.host ?? '127.0.0.1'}:${options.port ?? 0}: ${code === 'EADDRINUSE' ? 'the port is in use' : 'permission denied'}; choose another with --port`);
      if (code === 'ECONNREFUSED' || code === '28P01' || code === '3D000') throw new UsageError(`sandbox: cannot use the database at DATABASE_URL ${redactUrl(db.url)}: ${(e as Error).message}`);
      throw e;
    });
    // listening for the signal before the URL is out: whoever reads the URL may stop us at once
    const stopped = new Promise<void>((resolve) => {
      process.once('SIGTERM', () => resolve());
      process.once('SIGINT', () => resolve());
    });
    log(`sandbox portal (${plan} plan) at ${sandbox.url}, its data in schema ${options.schema ?? 'bitrix_sandbox'} of ${redactUrl(db.url)}`);
    for (const line of simulated(sandbox.limits)) log(line);
    if (sandbox.certFile) log(`certificate: ${sandbox.certFile} (trust it with NODE_EXTRA_CA_CERTS=${sandbox.certFile})`);
    log(`faults and the call log: ${sandbox.url}/_sandbox/<secret>/faults and /calls; SIGTERM or Ctrl-C stops it`);
    process.stdout.write(`${sandbox.webhookUrl}\n`);
    await stopped;
    await sandbox.stop();
    log('sandbox: stopped');
  } finally {
    await db.close();
  }
  return 0;
}
