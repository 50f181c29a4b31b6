import { Agent, request } from 'undici';
import { phpQuery } from './php-query.js';
import type { Webhook } from './webhook.js';

/** The `time` block of an answer (float seconds; operating fields only where the limiter is on). */
export interface TimeBlock {
  start?: number;
  finish?: number;
  duration?: number;
  processing?: number;
  operating?: number;
  operating_reset_at?: number;
}

export interface RestAnswer {
  result: unknown;
  total?: number;
  next?: number;
  time?: TimeBlock;
}

/** One command of a batch. */
export interface Command {
  key: string;
  method: string;
  params: Record<string, unknown>;
}

/** A batch's answer: each command's result or error, and its time (result_time). */
export interface BatchAnswer {
  results: Map<string, unknown>;
  errors: Map<string, { code: string; description: string }>;
  totals: Map<string, number>;
  times: Map<string, TimeBlock>;
  time?: TimeBlock;
}

/** The portal answered with its error envelope ({"error": CODE, "error_description": …}): it did not do the call. */
export class PortalError extends Error {
  constructor(readonly status: number, readonly code: string, readonly description: string, readonly method: string) {
    super(`${method}: ${code || 'error'} (HTTP ${status}): ${description}`);
  }
}

/**
 * No answer the portal wrote: the connection failed or dropped, the request timed out, a
 * gateway's HTML page, a 5xx without a code. A read may be sent again; a write may or may
 * not have been done.
 */
export class NoAnswerError extends Error {
  constructor(message: string, readonly status: number | null) {
    super(message);
  }
}

/**
 * The connection to the portal could not be made: the request never left this machine, so
 * nothing was written (a write may be sent again). A portal that goes on refusing has gone away.
 */
export class NotSentError extends Error {}

/** Errors of the connection's set-up: the request was never sent. */
const NOT_CONNECTED = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'EHOSTDOWN', 'EAI_AGAIN', 'UND_ERR_CONNECT_TIMEOUT']);

const formatSeconds = (seconds: number) => `${Number.isInteger(seconds) ? seconds : seconds.toFixed(1)} s`;

/**
 * The request never reached a portal, and sending it again cannot change that: the name does
 * not resolve, the certificate is not trusted, the address speaks another protocol. Nothing
 * was written; a person fixes BITRIX24_WEBHOOK_URL (or the trust).
 */
export class UnreachablePortalError extends Error {}

const UNTRUSTED = new Set(['DEPTH_ZERO_SELF_SIGNED_CERT', 'SELF_SIGNED_CERT_IN_CHAIN', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'UNABLE_TO_GET_ISSUER_CERT', 'CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID', 'ERR_TLS_CERT_ALTNAME_INVALID']);

/** Why a transport error code means the webhook's address or its trust is wrong, or null when waiting may help. */
function settingProblem(code: string, webhook: Webhook): string | null {
  if (UNTRUSTED.has(code)) {
    return 'the portal\'s certificate is not trusted: for the sandbox portal set NODE_EXTRA_CA_CERTS (or crm.caFile in the config) ' +
      'to the certificate file `b2b-etl sandbox` printed; for a portal of your own, its CA\'s certificate';
  }
  if (code === 'ENOTFOUND') return `no such host ${webhook.address.replace(/:\d+$/, '')}: check the host in BITRIX24_WEBHOOK_URL`;
  if (code === 'ERR_SSL_WRONG_VERSION_NUMBER' || code === 'EPROTO') {
    return 'the address does not speak https: check the scheme and port in BITRIX24_WEBHOOK_URL (a sandbox started with --http is called with http://)';
  }
  return null;
}

export interface TransportOptions {
  /** A certificate authority to trust besides the system's (the sandbox's self-signed certificate). */
  ca?: string | Buffer;
  /** How long to wait for an answer; the cloud gives up on a request after 60 s. */
  timeoutMs?: number;
}

/**
 * The portal's REST API over one keep-alive connection pool (undici): POST JSON to
 * BASE/method.json, the answer read and sorted into a result, the portal's error or no
 * answer. The webhook's secret is in the URL only; no message carries it.
 */
export class RestTransport {
  private readonly agent: Agent;
  private readonly timeoutMs: number;
  /** Whether the portal has answered anything over this transport. */
  private answered = false;

  constructor(private readonly webhook: Webhook, o: TransportOptions = {}) {
    this.timeoutMs = o.timeoutMs ?? 75_000;
    this.agent = new Agent({
      connections: 4,
      keepAliveTimeout: 30_000,
      headersTimeout: this.timeoutMs,
      bodyTimeout: this.timeoutMs,
      connect: o.ca ? { ca: o.ca } : undefined,
    });
  }

  async post(method: string, params: Record<string, unknown>): Promise<RestAnswer> {
    let status: number;
    let text: string;
    try {
      const response = await request(`${this.webhook.base}${method}.json`, {
        method: 'POST',
        dispatcher: this.agent,
        headers: { 'content-type': 'application/json', accept: 'application/json', 'user-agent': 'b2b-etl' },
        body: JSON.stringify(params),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
      status = response.statusCode;
      text = await response.body.text();
      this.answered = true;
    } catch (e) {
      const error = e as Error & { code?: unknown; cause?: Error & { code?: unknown } };
      if (error.name === 'TimeoutError' || error.code === 'UND_ERR_HEADERS_TIMEOUT' || error.code === 'UND_ERR_BODY_TIMEOUT') {
        throw new NoAnswerError(`${method}: no answer from ${this.webhook.shown} within ${formatSeconds(this.timeoutMs / 1000)}`, null);
      }
      const code = String(typeof error.code === 'string' ? error.code : error.cause?.code ?? error.name);
      const unreachable = settingProblem(code, this.webhook);
      if (unreachable) throw new UnreachablePortalError(`${this.webhook.shown}: ${unreachable} (${code})`);
      if (NOT_CONNECTED.has(code)) {
        throw new NotSentError(`${method}: ${this.webhook.shown} refused the connection (${code}): nothing was sent`);
      }
      // before the portal has ever answered, a closed connection may be the scheme: said once it can be
      const hint = code !== 'UND_ERR_SOCKET' ? '' : this.webhook.base.startsWith('http:') && !this.answered
        ? '; the portal closed the connection (an http:// URL for an https portal does that)' : '; the portal closed the connection';
      throw new NoAnswerError(`${method}: no answer from ${this.webhook.shown} (${code}: ${error.message})${hint}`, null);
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      const page = text.replace(/<[^>]*>/g, ' ').replace(/\s+/g, ' ').trim().slice(0, 80);
      throw new NoAnswerError(`${method}: HTTP ${status} from ${this.webhook.shown} with no JSON answer (${page || 'empty body'})`, status);
    }
    const body = (typeof json === 'object' && json !== null ? json : {}) as Record<string, unknown>;
    if ('error' in body) {
      const code = body.error === 0 || body.error === null ? '' : String(body.error);
      throw new PortalError(status, code, String(body.error_description ?? ''), method);
    }
    if (status >= 500 || !('result' in body)) {
      throw new NoAnswerError(`${method}: HTTP ${status} from ${this.webhook.shown} without a result`, status);
    }
    return {
      result: body.result,
      total: typeof body.total === 'number' ? body.total : undefined,
      next: typeof body.next === 'number' ? body.next : undefined,
      time: body.time as TimeBlock | undefined,
    };
  }

  /**
   * A batch of commands (at most 50), each sent as `method?query`; halt off, so one failing
   * command fails only itself. Empty parts arrive as [] (PHP's empty array).
   */
  async batch(commands: readonly Command[]): Promise<BatchAnswer> {
    const cmd: Record<string, string> = {};
    for (const c of commands) cmd[c.key] = `${c.method}?${phpQuery(c.params)}`;
    const answer = await this.post('batch', { halt: 0, cmd });
    const parts = (answer.result ?? {}) as Record<string, unknown>;
    const map = <T>(value: unknown): Map<string, T> =>
      new Map(value && typeof value === 'object' && !Array.isArray(value) ? Object.entries(value as Record<string, T>) : []);
    const errors = new Map<string, { code: string; description: string }>();
    for (const [key, e] of map<Record<string, unknown>>(parts.result_error)) {
      errors.set(key, { code: e.error === 0 || e.error === null || e.error === undefined ? '' : String(e.error), description: String(e.error_description ?? '') });
    }
    return {
      results: map<unknown>(parts.result),
      errors,
      totals: map<number>(parts.result_total),
      times: map<TimeBlock>(parts.result_time),
      time: answer.time,
    };
  }

  async close(): Promise<void> {
    await this.agent.close();
  }
}
