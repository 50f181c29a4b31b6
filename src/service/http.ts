import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type pg from 'pg';
import type { Registry } from 'prom-client';
import { REPORT_CSP } from '../audit/report.js';

export interface ServiceEndpoints {
  /** http://HOST:PORT */
  url: string;
  close(): Promise<void>;
}

/** What / and /status answer, built afresh for each request. */
export interface ServicePages {
  /** The data-quality report, one HTML page. */
  report: () => Promise<string>;
  /** What `status` prints. */
  status: () => Promise<string>;
}

/**
 * The worker's HTTP side: /healthz (200 while this process runs and reaches PostgreSQL, 503
 * otherwise), /metrics (Prometheus text), / (the data-quality report, the page `b2b-etl
 * report` writes), /status (what `status` says). Loopback unless told.
 */
export async function serveEndpoints(o: { host: string; port: number; pool: pg.Pool; metrics: Registry; pages: ServicePages }): Promise<ServiceEndpoints> {
  const server: Server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://worker').pathname;
    const reply = (status: number, type: string, body: string, headers: Record<string, string> = {}) => {
      res.writeHead(status, { 'content-type': type, ...headers });
      res.end(body);
    };
    const serve = async () => {
      if (req.method !== 'GET') return reply(405, 'text/plain; charset=utf-8', 'GET only\n');
      if (path === '/healthz') {
        const ok = await o.pool.query('select 1').then(() => true, () => false);
        return reply(ok ? 200 : 503, 'application/json', JSON.stringify({ ok, database: ok ? 'reachable' : 'not reachable', uptimeSeconds: Math.round(process.uptime()) }));
      }
      if (path === '/metrics') return reply(200, o.metrics.contentType, await o.metrics.metrics());
      if (path === '/') return reply(200, 'text/html; charset=utf-8', await o.pages.report(), { 'content-security-policy': REPORT_CSP });
      if (path === '/status') return reply(200, 'text/plain; charset=utf-8', await o.pages.status());
      return reply(404, 'text/plain; charset=utf-8', 'paths: / (the report), /status, /healthz, /metrics\n');
    };
    serve().catch((e: Error) => reply(500, 'text/plain; charset=utf-8', `${e.message}\n`));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${o.host.includes(':') ? `[${o.host}]` : o.host}:${port}`,
    close: () => new Promise((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}
