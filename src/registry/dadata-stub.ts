import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { projectRoot } from '../db/paths.js';
import type { RegistryRecord } from './provider.js';

/** A recorded findById/party exchange (test/fixtures/dadata/), written from DaData's documentation. */
export interface PartyFixture {
  request: { method: string; path: string; headers: Record<string, string>; body: { query: string } };
  response: { status: number; body: { suggestions: Array<Record<string, unknown>> } };
}

const FIXTURES = join(projectRoot(), 'test', 'fixtures', 'dadata');
export const readFixture = <T = PartyFixture>(name: string): T => JSON.parse(readFileSync(join(FIXTURES, name), 'utf8')) as T;
const LEGAL = readFixture('party-legal.json');
const INDIVIDUAL = readFixture('party-individual.json');
const ERRORS = readFixture<Record<'unauthorized' | 'quota', { status: number; body: unknown }>>('errors.json');

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
 * path, token authorisation and answers as the recorded fixtures have them (a company's
 * answer is the fixture's with the registry's values in the same places), 403 with the quota message
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
    if (req.method !== LEGAL.request.method || req.url !== LEGAL.request.path) {
      answer(404, { family: 'CLIENT_ERROR', reason: 'Not Found', message: `no such method ${req.method} ${req.url}` });
      return;
    }
    try {
      entry.inn = String((JSON.parse(body) as { query?: unknown }).query ?? '') || null;
    } catch {
      answer(400, { family: 'CLIENT_ERROR', reason: 'Bad Request', message: 'invalid JSON in the request body' });
      return;
    }
    if (req.headers.authorization !== LEGAL.request.headers.authorization!.replace('{API_KEY}', this.o.token)) {
      answer(ERRORS.unauthorized.status, ERRORS.unauthorized.body);
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
      answer(ERRORS.quota.status, ERRORS.quota.body);
      return;
    }
    this.served += 1;
    const company = entry.inn ? this.o.companies.get(entry.inn) : undefined;
    answer(200, { suggestions: company ? [suggestion(company)] : [] });
  }
}

/**
 * One `findById/party` suggestion: the recorded answer for a legal entity (10-digit INN)
 * or an individual entrepreneur (12 digits), the registry's values written where the
 * recording has them. Fed the values a recording carries, it gives the recording back.
 */
export function suggestion(c: RegistryRecord): Record<string, unknown> {
  const individual = c.inn.length === 12;
  const template = (individual ? INDIVIDUAL : LEGAL).response.body.suggestions[0]!;
  const s = structuredClone(template) as { value: unknown; unrestricted_value: unknown; data: Record<string, any> };
  const d = s.data;
  s.value = c.shortName ?? c.fullName;
  s.unrestricted_value = s.value;
  d.inn = c.inn;
  d.kpp = individual ? null : c.kpp;
  d.ogrn = c.ogrn;
  d.name.full_with_opf = c.fullName;
  d.name.short_with_opf = c.shortName;
  d.opf = c.legalForm ? { ...d.opf, short: c.legalForm } : null;
  if (individual) {
    const [surname = null, name = null, patronymic = null] = c.head?.split(' ') ?? [];
    d.fio = c.head ? { ...d.fio, surname, name, patronymic } : null;
  } else {
    d.management = c.head ? { ...d.management, name: c.head } : null;
  }
  d.state.status = c.status;
  d.state.liquidation_date = c.liquidationDate ? Date.parse(`${c.liquidationDate}T00:00:00Z`) : null;
  d.address = c.address ? { ...d.address, value: c.address } : null;
  return s;
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
