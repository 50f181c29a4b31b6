import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import pg from 'pg';
import { projectRoot } from '../db/paths.js';
import { sandboxCertificate } from './certificate.js';
import { DOCS_IMPORT_ITEM_SECONDS } from './costs.js';
import type { SandboxFault } from './faults.js';
import { LeakyBucket, PLAN_BUCKETS, type BucketSettings } from './limits.js';
import { Portal, type OperatingOptions } from './portal.js';
import { SandboxServer } from './server.js';
import { applySchema, quoteIdent } from './store/schema.js';
import { listCalls, type CallFilter, type SandboxCall } from './store/calls.js';
import { webhookSecret } from './store/settings.js';

export type { SandboxFault } from './faults.js';
export type { SandboxCall, CallFilter } from './store/calls.js';

export { DOCS_IMPORT_ITEM_SECONDS, TRYING_IMPORT_ITEM_SECONDS } from './costs.js';

/** The costs and limits a running sandbox simulates. */
export interface SimulatedLimits {
  bucket: BucketSettings;
  operating: { limitSeconds: number; windowSeconds: number; charge: 'inner' | 'batch' };
  importItemSeconds: number;
  /** Charged per command: one figure, by method, or undefined for the real time. */
  commandSeconds?: number | Record<string, number>;
}

export interface SandboxOptions {
  /** PostgreSQL where the portal's schema lives. */
  databaseUrl: string;
  /** Default 'bitrix_sandbox'. */
  schema?: string;
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 0: a free port. */
  port?: number;
  /** Default true: HTTPS with a self-signed certificate made on first start and kept in certDir. */
  https?: boolean;
  /** Default <project>/.data/sandbox. */
  certDir?: string;
  /** Default 'standard': a bucket of 50 draining 2/s; 'enterprise': 250 and 5/s. */
  plan?: 'standard' | 'enterprise';
  /** Overrides the plan's bucket. */
  bucket?: BucketSettings;
  /** The operating-time limit: 480 s per 600 s by default, batch charged to its inner methods. */
  operating?: OperatingOptions & {
    /** Simulated seconds per imported item; default DOCS_IMPORT_ITEM_SECONDS (1.19). */
    importItemSeconds?: number;
  };
  /** Default true; false = the webhook's user lacks the import right (crm.item.import answers ACCESS_DENIED). */
  importRight?: boolean;
  /** Given, or kept from an earlier start, or made up on the first. */
  secret?: string;
  /** The webhook's user id (the path segment before the secret); default 1. */
  userId?: number;
  /** INVALID_CREDENTIALS and insufficient_scope: 401 per the server code (default), 403 per the docs. */
  authErrorStatus?: 401 | 403;
  /**
   * The webhook's scopes; default ['crm']. Without `crm` every CRM method answers
   * insufficient_scope; user.current needs `user`, `user_brief` or `user_basic`; server.time
   * and profile need none.
   */
  scopes?: string[];
  /** Over plain HTTP, answer webhooks with INVALID_REQUEST "Https required." as the cloud does; default false. */
  httpsRequired?: boolean;
  /** crm.duplicate.findbycomm errors: 'docs' (default; message as the code) or 'code' (empty code). */
  findByCommErrors?: 'docs' | 'code';
  /** Where unexpected server errors are reported; default stderr. */
  log?: (line: string) => void;
}

export interface Sandbox {
  /** https://127.0.0.1:PORT */
  url: string;
  /** https://127.0.0.1:PORT/rest/1/<secret>/ */
  webhookUrl: string;
  /** The PEM a client trusts (NODE_EXTRA_CA_CERTS); null over plain HTTP. */
  certFile: string | null;
  /** Also reachable as POST /_sandbox/<secret>/faults. */
  inject(...faults: SandboxFault[]): void;
  /** The costs and limits it simulates, defaults filled in. */
  limits: SimulatedLimits;
  /** From the recorded call log; also GET /_sandbox/<secret>/calls?method=M. */
  calls(filter?: CallFilter): Promise<SandboxCall[]>;
  stop(): Promise<void>;
}

export async function startSandbox(o: SandboxOptions): Promise<Sandbox> {
  const schema = o.schema ?? 'bitrix_sandbox';
  const host = o.host ?? '127.0.0.1';
  const https = o.https ?? true;
  const log = o.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const pool = new pg.Pool({ connectionString: o.databaseUrl, max: 8, application_name: 'b2b-etl sandbox', options: `-c search_path=${quoteIdent(schema)}` });
  pool.on('error', (e) => log(`sandbox: database connection lost: ${e.message}`));
  let server: Server | null = null;
  try {
    await applySchema(pool, schema);
    const secret = await webhookSecret(pool, o.secret);
    const userId = o.userId ?? 1;
    const limits: SimulatedLimits = {
      bucket: o.bucket ?? PLAN_BUCKETS[o.plan ?? 'standard'],
      operating: { limitSeconds: o.operating?.limitSeconds ?? 480, windowSeconds: o.operating?.windowSeconds ?? 600, charge: o.operating?.charge ?? 'inner' },
      importItemSeconds: o.operating?.importItemSeconds ?? DOCS_IMPORT_ITEM_SECONDS,
      commandSeconds: o.operating?.commandSeconds,
    };
    const portal = new Portal(pool, {
      importRight: o.importRight ?? true,
      importItemSeconds: limits.importItemSeconds,
      findByCommErrors: o.findByCommErrors ?? 'docs',
    }, { ...limits.operating, commandSeconds: limits.commandSeconds }, { scopes: o.scopes ?? ['crm'], authErrorStatus: o.authErrorStatus ?? 401 });
    const bucket = new LeakyBucket(limits.bucket);
    const sandbox = new SandboxServer(pool, portal, bucket, {
      userId, secret, https, httpsRequired: o.httpsRequired ?? false, authErrorStatus: o.authErrorStatus ?? 401,
    }, log);
    const certificate = https ? await sandboxCertificate(o.certDir ?? join(projectRoot(), '.data', 'sandbox'), host) : null;
    server = certificate ? createHttpsServer({ cert: certificate.cert, key: certificate.key }, sandbox.handle) : createHttpServer(sandbox.handle);
    server.keepAliveTimeout = 30_000;
    const listening = server;
    await new Promise<void>((resolve, reject) => {
      listening.once('error', reject);
      listening.listen(o.port ?? 0, host, () => resolve());
    });
    const port = (listening.address() as AddressInfo).port;
    // listening on every address, the sandbox is reached (and its certificate valid) at 127.0.0.1
    const reachable = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
    const shownHost = reachable.includes(':') ? `[${reachable}]` : reachable;
    const url = `${https ? 'https' : 'http'}://${shownHost}:${port}`;
    return {
      url,
      webhookUrl: `${url}/rest/${userId}/${secret}/`,
      certFile: certificate?.certFile ?? null,
      limits,
      inject: (...faults) => sandbox.faults.add(...faults),
      calls: (filter) => listCalls(pool, filter),
      async stop() {
        // no new connections; the requests being served finish and are answered (their
        // writes are committed whole), for at most 10 s; then the rest are cut
        const closed = new Promise<void>((resolve) => listening.close(() => resolve()));
        listening.closeIdleConnections();
        await Promise.race([sandbox.idle(), new Promise((resolve) => setTimeout(resolve, 10_000).unref())]);
        listening.closeAllConnections();
        await closed;
        await Promise.race([sandbox.idle(), new Promise((resolve) => setTimeout(resolve, 5_000).unref())]);
        await pool.end();
      },
    };
  } catch (e) {
    server?.close();
    await pool.end().catch(() => {});
    throw e;
  }
}
