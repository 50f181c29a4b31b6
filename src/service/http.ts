import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type pg from 'pg';
import type { Registry } from 'prom-client';

export interface ServiceEndpoints {
  /** http://HOST:PORT */
  url: string;
  close(): Promise<void>;
}

/**
 * The worker's HTTP side: /healthz (200 while this process runs and reaches PostgreSQL, 503
 * otherwise), /metrics (Prometheus text), / (what `status` says). Loopback unless told.
 */
export async function serveEndpoints(o: { host: string; port: number; pool: pg.Pool; metrics: Registry; page: () => Promise<string> }): Promise<ServiceEndpoints> {
  const server: Server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://worker').pathname;
    const reply = (status: number, type: string, body: string) => {
      res.writeHead(status, { 'content-type': type });
      res.end(body);
    };
    const serve = async () => {
      if (req.method !== 'GET') return reply(405, 'text/plain; charset=utf-8', 'GET only\n');
      if (path === '/healthz') {
        const ok = await o.pool.query('select 1').then(() => true, () => false);
        return reply(ok ? 200 : 503, 'application/json', JSON.stringify({ ok, database: ok ? 'reachable' : 'not reachable', uptimeSeconds: Math.round(process.uptime()) }));
      }
      if (path === '/metrics') return reply(200, o.metrics.contentType, await o.metrics.metrics());
      if (path === '/') return reply(200, 'text/plain; charset=utf-8', await o.page());
      return reply(404, 'text/plain; charset=utf-8', 'paths: /, /healthz, /metrics\n');
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
