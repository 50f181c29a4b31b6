import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PARTY_PATH } from './dadata.js';
import type { RegistryRecord } from './provider.js';

/** What the stub does with the next requests, in order, before answering normally. */
export type StubFault =
  | { kind: 'status'; status: 500 | 502 | 503 | 504 | 429 }
  | { kind: 'hang'; ms: number }
  | { kind: 'reset' };

export interface StubOptions {
  token: string;
  /** The registry the stub answers from, by INN; an INN not here answers `{"suggestions": []}`. */
  companies: Map<string, RegistryRecord>;
  /** Delay before every answer, like the real service's latency. */
  latencyMs?: number;
  /** Requests answered before the daily quota is spent (403 afterwards). */
  quota?: number;
}

/**
 * A DaData-compatible server on loopback for tests and benchmarks: the findById/party
 * path, token authorisation, the JSON shape of a suggestion, 403 with the quota message
 * when the daily quota is spent, and injectable latency, 5xx, 429, hangs and resets. It
 * counts every request, with its time and INN.
 */
export class DadataStub {
  readonly requests: Array<{ at: number; inn: string | null; status: number }> = [];
  private readonly faults: StubFault[] = [];
  private server: Server | null = null;
  private served = 0;
  url = '';

  constructor(private readonly o: StubOptions) {}

  async start(): Promise<string> {
    this.server = createServer((req, res) => void this.handle(req, res));
    this.server.keepAliveTimeout = 30_000;
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this.url;
  }

  async stop(): Promise<void> {
    if (!this.server) return;
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server!.close(() => resolve()));
    this.server = null;
  }

  /** Faults for the next requests, in order. */
  inject(...faults: StubFault[]): void {
    this.faults.push(...faults);
  }

  setQuota(quota: number | undefined): void {
    this.o.quota = quota;
    this.served = 0;
  }

  /** The key it accepts from now on (a key fixed or topped up on the provider's side). */
  setToken(token: string): void {
    this.o.token = token;
  }

  setLatency(ms: number): void {
    this.o.latencyMs = ms;
  }

  requestsFor(inn: string): number {
    return this.requests.filter((r) => r.inn === inn).length;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    // counted on arrival: the arrival times are what a rate limit is measured by
    const entry = { at: Date.now(), inn: null as string | null, status: 0 };
    const body = await readBody(req);
    this.requests.push(entry);
    const answer = (status: number, json: unknown) => {
      entry.status = status;
      res.writeHead(status, { 'content-type': 'application/json;charset=UTF-8' });
      res.end(JSON.stringify(json));
    };
    if (req.method !== 'POST' || req.url !== PARTY_PATH) {
      answer(404, { family: 'CLIENT_ERROR', reason: 'Not Found', message: `no such method ${req.method} ${req.url}` });
      return;
    }
    try {
      entry.inn = String((JSON.parse(body) as { query?: unknown }).query ?? '') || null;
    } catch {
      answer(400, { family: 'CLIENT_ERROR', reason: 'Bad Request', message: 'invalid JSON in the request body' });
      return;
    }
    if (req.headers.authorization !== `Token ${this.o.token}`) {
      answer(401, { family: 'CLIENT_ERROR', reason: 'Unauthorized', message: 'Zero balance or invalid API key' });
      return;
    }
    const fault = this.faults.shift();
    if (this.o.latencyMs) await sleep(this.o.latencyMs);
    if (fault?.kind === 'hang') {
      await sleep(fault.ms);
      res.destroy();
      return;
    }
    if (fault?.kind === 'reset') {
      req.socket.destroy();
      return;
    }
    if (fault?.kind === 'status') {
      answer(fault.status, fault.status === 429
        ? { family: 'CLIENT_ERROR', reason: 'Too Many Requests', message: 'Too many requests' }
        : { family: 'SERVER_ERROR', reason: 'Internal Server Error', message: 'Internal server error' });
      return;
    }
    if (this.o.quota !== undefined && this.served >= this.o.quota) {
      answer(403, { family: 'CLIENT_ERROR', reason: 'Forbidden', message: "Feature 'SUGGESTIONS' disabled for token" });
      return;
    }
    this.served += 1;
    const company = entry.inn ? this.o.companies.get(entry.inn) : undefined;
    answer(200, { suggestions: company ? [suggestion(company)] : [] });
  }
}

/** One `findById/party` suggestion in DaData's shape. */
function suggestion(c: RegistryRecord): unknown {
  const individual = c.inn.length === 12;
  return {
    value: c.shortName ?? c.fullName,
    unrestricted_value: c.fullName,
    data: {
      inn: c.inn,
      kpp: individual ? null : c.kpp,
      ogrn: c.ogrn,
      type: individual ? 'INDIVIDUAL' : 'LEGAL',
      branch_type: individual ? null : 'MAIN',
      name: { full_with_opf: c.fullName, short_with_opf: c.shortName, full: null, short: null, latin: null },
      opf: c.legalForm ? { code: null, full: null, short: c.legalForm, type: '2014' } : null,
      management: c.head && !individual ? { name: c.head, post: 'ГЕНЕРАЛЬНЫЙ ДИРЕКТОР', disqualified: null } : null,
      state: {
        status: c.status,
        code: null,
        actuality_date: Date.UTC(2026, 10, 1),
        registration_date: Date.UTC(2015, 0, 1),
        liquidation_date: c.liquidationDate ? Date.parse(`${c.liquidationDate}T00:00:00Z`) : null,
      },
      address: c.address ? { value: c.address, unrestricted_value: c.address, data: null } : null,
    },
  };
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
