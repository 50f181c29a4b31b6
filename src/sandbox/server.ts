import type { IncomingMessage, ServerResponse } from 'node:http';
import type pg from 'pg';
import { batchCommands, runBatch, splitCommand, type BatchCommand } from './batch.js';
import { errors, RestError, successBody, timeBlock, toXml, type MethodResult, type TimeBlock } from './envelope.js';
import { checkFault, FaultQueue, htmlPage, type SandboxFault } from './faults.js';
import { LeakyBucket } from './limits.js';
import { nulParameter } from './nul.js';
import { Portal } from './portal.js';
import { readBody, requestParams } from './request.js';
import { listCalls, recordCall, type CallRecord } from './store/calls.js';

export interface ServerSettings {
  userId: number;
  secret: string;
  https: boolean;
  /** A webhook over plain HTTP gets INVALID_REQUEST "Https required." (JSSDK #500). */
  httpsRequired: boolean;
  /** INVALID_CREDENTIALS: 401 in the server code, 403 in the docs. */
  authErrorStatus: 401 | 403;
}

interface Reply {
  status: number;
  body: string;
  contentType: string;
  headers?: Record<string, string>;
}

const clientOf = (req: IncomingMessage) => (req.socket.remoteAddress ?? 'unknown').replace(/^::ffff:/, '');

/** The method names a batch carries, so a fault aimed at one of them fires for the batch too. */
function innerMethods(params: Record<string, unknown>): string[] {
  return batchCommands(params).filter(([, raw]) => typeof raw === 'string').map(([, raw]) => splitCommand(raw).method);
}

/** Splits `/rest/1/SECRET/crm.company.add.json` into its parts; the suffix picks the format. */
function parseRestPath(pathname: string): { segments: string[]; method: string; xml: boolean } {
  const segments = pathname.replace(/^\/rest\//, '').split('/').filter(Boolean).map((s) => decodeURIComponent(s));
  const last = (segments.pop() ?? '').toLowerCase();
  const xml = last.endsWith('.xml');
  const method = last.replace(/\.(json|xml)$/, '');
  return { segments, method, xml };
}

export class SandboxServer {
  readonly faults = new FaultQueue();

  constructor(
    private readonly pool: pg.Pool,
    private readonly portal: Portal,
    private readonly bucket: LeakyBucket,
    private readonly settings: ServerSettings,
    private readonly log: (line: string) => void,
  ) {}

  /** Requests being served (their database work included, even when the client has gone). */
  private working = 0;
  private settled: Array<() => void> = [];

  /** The request handler for node's http/https server. */
  handle = (req: IncomingMessage, res: ServerResponse): void => {
    this.working += 1;
    this.serve(req, res).catch((e: unknown) => {
      this.log(`sandbox: ${req.method} ${req.url?.split('?')[0]?.replace(this.settings.secret, '***')}: ${(e as Error).message}`);
      if (!res.headersSent) this.send(res, { status: 500, contentType: 'application/json; charset=utf-8', body: JSON.stringify({ error: 'INTERNAL_SERVER_ERROR', error_description: 'Internal server error' }) });
      else res.destroy();
    }).finally(() => {
      this.working -= 1;
      if (this.working === 0) for (const resolve of this.settled.splice(0)) resolve();
    });
  };

  /** Resolves once no request is being served (at once when none is). */
  idle(): Promise<void> {
    return this.working === 0 ? Promise.resolve() : new Promise((resolve) => this.settled.push(resolve));
  }

  private send(res: ServerResponse, reply: Reply): void {
    res.writeHead(reply.status, { 'content-type': reply.contentType, 'access-control-allow-origin': '*', ...reply.headers });
    res.end(reply.body);
  }

  private async serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://sandbox');
    if (url.pathname.startsWith('/_sandbox/')) return this.admin(req, res, url);
    if (!url.pathname.startsWith('/rest/')) {
      return this.send(res, { status: 404, contentType: 'text/html; charset=utf-8', body: '<html><body><h1>404 Not Found</h1></body></html>' });
    }
    const at = new Date();
    const started = performance.now();
    const client = clientOf(req);
    const body = await readBody(req);
    const { segments, method, xml } = parseRestPath(url.pathname);
    if (body === null) {
      // the gateway refuses it, as nginx does, before the portal sees it
      await recordCall(this.pool, { at, client, method, params: {}, status: 413, error: 'request body too large', seconds: 0 });
      return this.send(res, { status: 413, contentType: 'text/html', body: '<html><head><title>413 Request Entity Too Large</title></head><body><center><h1>413 Request Entity Too Large</h1></center><hr><center>nginx</center></body></html>', headers: { connection: 'close' } });
    }
    const params = await requestParams(req, url, body);
    const call: CallRecord = { at, client, method, params, status: 0, seconds: 0 };
    const finish = async (reply: Reply) => {
      call.status = reply.status;
      call.seconds = (performance.now() - started) / 1000;
      await recordCall(this.pool, call);
    };
    const fault = this.faults.take(method, method === 'batch' ? innerMethods(params) : []);
    if (fault) call.fault = fault.kind === 'html' ? `html ${fault.status}${fault.afterCommit ? ' after commit' : ''}` : fault.kind;
    let reply: Reply;
    try {
      if (!this.bucket.take(call.client)) throw errors.queryLimit();
      const nul = nulParameter(params, method);
      if (nul !== null) throw errors.nulByte(nul);
      reply = await this.answer(req, segments, method, params, fault, call, xml);
    } catch (e) {
      if (!(e instanceof RestError)) throw e;
      call.error = e.code;
      call.errorDescription = e.description;
      reply = { status: e.status, contentType: 'application/json; charset=utf-8', body: JSON.stringify(e.body()) };
    }
    if (fault?.kind === 'drop') {
      call.error = null;
      await finish({ ...reply, status: 0 });
      req.socket.destroy();
      return;
    }
    await finish(reply);
    this.send(res, reply);
  }

  private async answer(req: IncomingMessage, segments: string[], method: string, params: Record<string, unknown>, fault: SandboxFault | null, call: CallRecord, xml: boolean): Promise<Reply> {
    if (fault?.kind === 'latency') await new Promise((resolve) => setTimeout(resolve, fault.ms));
    if (fault?.kind === 'overload') throw errors.overload();
    if (fault?.kind === 'expired-token') throw errors.expiredToken();
    if (fault?.kind === 'html' && !fault.afterCommit) return { status: fault.status, contentType: 'text/html', body: htmlPage(fault.status) };
    if (segments.length === 0) throw errors.noAuth();
    // a URL without the user-id segment answers "Method not found!" (b24pysdk PR #3)
    if (segments.length !== 2) throw errors.methodNotFound();
    const [user, secret] = segments as [string, string];
    if (user !== String(this.settings.userId) || secret !== this.settings.secret) throw errors.invalidCredentials(this.settings.authErrorStatus);
    if (!this.settings.https && this.settings.httpsRequired) throw errors.httpsRequired();
    if (method !== 'batch' && !Portal.knows(method)) throw errors.methodNotFound();
    const credential = `${user}/${secret}`;
    const startMs = Date.now();
    let answer: MethodResult;
    let time: TimeBlock;
    if (method === 'batch') {
      const commands: BatchCommand[] = [];
      call.commands = commands;
      answer = await runBatch(this.portal, credential, this.settings.userId, params, commands);
      time = timeBlock(startMs, Date.now(), (Date.now() - startMs) / 1000, this.portal.state(credential, 'batch'));
    } else {
      const done = await this.portal.execute(credential, this.settings.userId, method, params);
      answer = done.answer;
      time = timeBlock(startMs, Date.now(), done.processing, done.operating);
    }
    if (fault?.kind === 'html') return { status: fault.status, contentType: 'text/html', body: htmlPage(fault.status) };
    const envelope = successBody(answer, time);
    const headers = {
      'x-bitrix-rest-time': String(time.duration),
      'x-bitrix-rest-user-time': String(time.processing),
      'x-bitrix-rest-system-time': '0',
    };
    if (xml) return { status: 200, contentType: 'text/xml; charset=utf-8', body: `<?xml version="1.0" encoding="utf-8"?>${toXml(envelope)}`, headers };
    return { status: 200, contentType: 'application/json; charset=utf-8', body: JSON.stringify(envelope), headers };
  }

  /**
   * Drills over HTTP: `POST /_sandbox/SECRET/faults` with a fault or a list of them,
   * `GET` lists the pending ones, `DELETE` clears them; `GET /_sandbox/SECRET/calls?method=M`.
   */
  private async admin(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const json = (status: number, value: unknown) => this.send(res, { status, contentType: 'application/json; charset=utf-8', body: JSON.stringify(value) });
    const [, , secret, what] = url.pathname.split('/');
    if (secret !== this.settings.secret) return json(403, { error: 'wrong secret in the admin path' });
    if (what === 'calls' && req.method === 'GET') {
      const method = url.searchParams.get('method') ?? undefined;
      return json(200, await listCalls(this.pool, { method, withinBatch: url.searchParams.get('withinBatch') === '1' }));
    }
    if (what !== 'faults') return json(404, { error: 'admin paths: faults, calls' });
    if (req.method === 'GET') return json(200, this.faults.list());
    if (req.method === 'DELETE') {
      this.faults.clear();
      return json(200, { cleared: true });
    }
    if (req.method !== 'POST') return json(405, { error: 'faults takes GET, POST or DELETE' });
    try {
      const given: unknown = JSON.parse((await readBody(req))?.toString('utf8') ?? 'null');
      const faults = (Array.isArray(given) ? given : [given]).map(checkFault);
      this.faults.add(...faults);
      return json(200, { pending: this.faults.list() });
    } catch (e) {
      return json(400, { error: `faults: ${(e as Error).message}` });
    }
  }
}
