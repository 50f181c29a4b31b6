/** The registry's statuses (DaData's `data.state.status`); only ACTIVE goes on. */
export const REGISTRY_STATUSES = ['ACTIVE', 'LIQUIDATING', 'LIQUIDATED', 'BANKRUPT', 'REORGANIZING'] as const;
export type RegistryStatus = (typeof REGISTRY_STATUSES)[number];

/** What the registry says about one INN. */
export interface RegistryRecord {
  inn: string;
  status: RegistryStatus;
  liquidationDate: string | null; // YYYY-MM-DD
  fullName: string | null;
  shortName: string | null;
  legalForm: string | null;
  kpp: string | null;
  ogrn: string | null;
  address: string | null;
  head: string | null;
}

export type RegistryAnswer =
  | { found: true; record: RegistryRecord; raw: unknown }
  | { found: false; raw: unknown };

/** One registry behind the checks: DaData's API or an imported snapshot. */
export interface RegistryProvider {
  readonly name: string;
  /** Whether requests cost time and quota (and so go through the pacing). */
  readonly remote: boolean;
  /** A digest of the settings it calls with (URL, token); null when it has none to get wrong. */
  readonly fingerprint: string | null;
  lookup(inn: string): Promise<RegistryAnswer>;
  close(): Promise<void>;
}

/** Worth asking again soon: 429, 5xx, a timeout, a dropped connection. */
export class TransientRegistryError extends Error {
  constructor(message: string, readonly retryAfterMs: number | null = null) {
    super(message);
  }
}

/** The daily quota is spent: nothing more until it resets. */
export class QuotaExhaustedError extends Error {
  constructor(message: string, readonly resetsAt: Date) {
    super(message);
  }
}

/** The provider refuses us for good (bad token, bad request): a person must act. */
export class RegistryConfigError extends Error {}

export function isRegistryStatus(value: unknown): value is RegistryStatus {
  return typeof value === 'string' && (REGISTRY_STATUSES as readonly string[]).includes(value);
}

/**
 * When DaData's daily quota resets: midnight Moscow time (UTC+3), the next one after `now`.
 */
export function nextQuotaReset(now = new Date()): Date {
  const moscow = new Date(now.getTime() + 3 * 3600_000);
  const midnight = Date.UTC(moscow.getUTCFullYear(), moscow.getUTCMonth(), moscow.getUTCDate() + 1);
  return new Date(midnight - 3 * 3600_000);
}
