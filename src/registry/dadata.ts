import { Agent, request } from 'undici';
import {
  isRegistryStatus,
  nextQuotaReset,
  QuotaExhaustedError,
  RegistryConfigError,
  TransientRegistryError,
  type RegistryAnswer,
  type RegistryProvider,
  type RegistryRecord,
} from './provider.js';
import { configFingerprint } from './pause.js';

/** DaData's "organisation by INN" method. */
export const PARTY_PATH = '/suggestions/api/4_1/rs/findById/party';

export interface DadataOptions {
  /** e.g. https://suggestions.dadata.ru */
  baseUrl: string;
  token: string;
  timeoutMs?: number;
  connections?: number;
}

/**
 * DaData's "organisation by INN" (findById/party) over one keep-alive connection pool.
 * Asks for the head organisation (branch_type MAIN). An empty `suggestions` list is a
 * definite "not found". The token goes only into the Authorization header; no message
 * includes it.
 */
export class DadataProvider implements RegistryProvider {
  readonly name = 'dadata';
  readonly remote = true;
  readonly fingerprint: string;
  private readonly agent: Agent;
  private readonly url: string;

  constructor(private readonly o: DadataOptions) {
    if (!o.token) throw new RegistryConfigError('DADATA_TOKEN is not set');
    this.url = new URL(PARTY_PATH, o.baseUrl).toString();
    this.fingerprint = configFingerprint(this.url, o.token);
    this.agent = new Agent({
      connections: o.connections ?? 16,
      keepAliveTimeout: 30_000,
      headersTimeout: o.timeoutMs ?? 10_000,
      bodyTimeout: o.timeoutMs ?? 10_000,
    });
  }

  async lookup(inn: string): Promise<RegistryAnswer> {
    let response;
    try {
      response = await request(this.url, {
        method: 'POST',
        dispatcher: this.agent,
        headers: { 'content-type': 'application/json', accept: 'application/json', authorization: `Token ${this.o.token}` },
        body: JSON.stringify({ query: inn, branch_type: 'MAIN', count: 1 }),
        signal: AbortSignal.timeout(this.o.timeoutMs ?? 10_000),
      });
    } catch (e) {
      // a host name that does not resolve is a wrong DADATA_URL, not an outage
      const code = (e as { code?: unknown }).code ?? (e as { cause?: { code?: unknown } }).cause?.code;
      if (code === 'ENOTFOUND') throw new RegistryConfigError(`DaData's host ${new URL(this.url).host} is not known (check DADATA_URL)`);
      throw new TransientRegistryError(`DaData did not answer for ${inn}: ${(e as Error).message}`);
    }
    const text = await response.body.text().catch(() => '');
    const status = response.statusCode;
    if (status === 200) return parseAnswer(inn, text);
    const message = messageOf(text);
    if (status === 429) {
      const retryAfter = Number(response.headers['retry-after']);
      throw new TransientRegistryError(`DaData: 429 ${message}`, Number.isFinite(retryAfter) ? retryAfter * 1000 : null);
    }
    if (status >= 500) throw new TransientRegistryError(`DaData: ${status} ${message}`);
    if (status === 403 && /disabled for token|limit|quota/i.test(message)) {
      throw new QuotaExhaustedError(`DaData: 403 ${message} (daily quota spent)`, nextQuotaReset());
    }
    throw new RegistryConfigError(`DaData refused the request: ${status} ${message} (${configHint(status)})`);
  }

  async close(): Promise<void> {
    await this.agent.close();
  }
}

/** What to check for a status DaData gives when our settings are wrong, not the INN. */
function configHint(status: number): string {
  if (status === 401 || status === 403) return 'check DADATA_TOKEN: the API key is missing, wrong, expired or its balance is spent';
  if (status === 404 || status === 405) return 'check DADATA_URL: no findById/party method there';
  return 'the request was refused as malformed';
}

function messageOf(text: string): string {
  try {
    const json = JSON.parse(text) as { message?: unknown; reason?: unknown };
    return String(json.message ?? json.reason ?? text).slice(0, 200);
  } catch {
    return text.slice(0, 200);
  }
}

type Json = Record<string, unknown>;
const obj = (v: unknown): Json => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Json) : {});
const str = (v: unknown): string | null => (typeof v === 'string' && v.trim() !== '' ? v.trim() : null);

/** Maps a findById/party answer; throws a transient error for a malformed one (a proxy's page, say). */
export function parseAnswer(inn: string, text: string): RegistryAnswer {
  let json: Json;
  try {
    json = obj(JSON.parse(text));
  } catch {
    throw new TransientRegistryError(`DaData answered ${inn} with something that is not JSON`);
  }
  if (!Array.isArray(json.suggestions)) throw new TransientRegistryError(`DaData answered ${inn} without a suggestions list`);
  const suggestions = json.suggestions.map(obj);
  if (suggestions.length === 0) return { found: false, raw: json };
  // the head organisation when there are branches
  const main = suggestions.find((s) => obj(s.data).branch_type === 'MAIN') ?? suggestions[0]!;
  const data = obj(main.data);
  const state = obj(data.state);
  const status = state.status;
  if (!isRegistryStatus(status)) throw new TransientRegistryError(`DaData answered ${inn} with an unknown status ${JSON.stringify(status)}`);
  const liquidation = typeof state.liquidation_date === 'number' ? new Date(state.liquidation_date).toISOString().slice(0, 10) : null;
  const name = obj(data.name);
  const management = obj(data.management);
  // an individual entrepreneur has no management: the person is in fio
  const fio = obj(data.fio);
  const person = [fio.surname, fio.name, fio.patronymic].map(str).filter((p) => p !== null).join(' ');
  const record: RegistryRecord = {
    inn,
    status,
    liquidationDate: liquidation,
    fullName: str(name.full_with_opf),
    shortName: str(name.short_with_opf),
    legalForm: str(obj(data.opf).short),
    kpp: str(data.kpp),
    ogrn: str(data.ogrn),
    address: str(obj(data.address).value),
    head: str(management.name) ?? (person || null),
  };
  return { found: true, record, raw: main };
}
