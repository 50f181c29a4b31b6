import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';
import { inTransaction } from '../db/connection.js';
import { activePause, pauseProvider, type PauseKind } from './pause.js';
import { QuotaExhaustedError, RegistryConfigError, TransientRegistryError, type RegistryAnswer, type RegistryProvider } from './provider.js';

export interface CheckOptions {
  /** Requests per second to this provider, across every worker process. */
  rps: number;
  /** Tries for a transient failure (429, 5xx, timeout, network) before the job fails. */
  attempts: number;
  /** First backoff; it doubles with every try, with full jitter. */
  backoffMs: number;
  /** Ask again even when a fresh answer is cached (a refresh). */
  force?: boolean;
  log?: (line: string) => void;
}

export type CheckResult =
  | { outcome: 'invalid' }
  | { outcome: 'cached'; status: string | null }
  | { outcome: 'stored'; status: string | null; requests: number }
  /** `until` null: until the settings change or someone resumes the provider. */
  | { outcome: 'paused'; kind: PauseKind; until: Date | null; reason: string };

/**
 * One registry check: never for an invalid INN; nothing when a fresh answer is cached;
 * otherwise a request in this provider's next free slot, retried with exponential backoff
 * and jitter when it fails transiently. A spent quota pauses the provider until its
 * reset and returns 'paused' (the caller re-queues; nobody is rejected for it); so does a
 * refused configuration (a wrong token or URL), until a person fixes it. The answer is
 * stored with its TTL, and the INN marked for the next transform, in one transaction.
 */
export async function checkRegistry(pool: pg.Pool, provider: RegistryProvider, inn: string, o: CheckOptions): Promise<CheckResult> {
  const { rows } = await pool.query<{ valid: boolean; status: string | null; fresh: boolean | null }>(
    `select etl.inn_is_valid($1) as valid, l.status, l.expires_at > now() as fresh
     from (select 1) as one left join etl.registry_lookup l on l.inn = $1`,
    [inn],
  );
  const state = rows[0]!;
  if (!state.valid) return { outcome: 'invalid' };
  if (state.fresh && !o.force) return { outcome: 'cached', status: state.status };
  const paused = async (): Promise<CheckResult | null> => {
    const pause = await activePause(pool, provider.name, provider.fingerprint, o.log);
    return pause && { outcome: 'paused', kind: pause.kind, until: pause.until, reason: pause.reason };
  };
  const before = await paused();
  if (before) return before;

  let answer: RegistryAnswer | null = null;
  let requests = 0;
  for (let attempt = 1; answer === null; attempt++) {
    if (provider.remote && !(await takeSlot(pool, provider.name, o.rps))) {
      // paused by another check while this one waited for its slot
      const now = await paused();
      if (now) return now;
      continue;
    }
    try {
      requests += 1;
      answer = await provider.lookup(inn);
    } catch (e) {
      if (e instanceof QuotaExhaustedError || e instanceof RegistryConfigError) {
        const kind: PauseKind = e instanceof QuotaExhaustedError ? 'quota' : 'config';
        const until = e instanceof QuotaExhaustedError ? e.resetsAt : null;
        const first = await pauseProvider(pool, provider.name, { kind, until, reason: e.message, fingerprint: provider.fingerprint });
        if (first) {
          o.log?.(`registry ${provider.name}: ${e.message}; checks pause until ` +
            (until ? until.toISOString() : 'the settings change or `b2b-etl registry resume`'));
        }
        return { outcome: 'paused', kind, until, reason: e.message };
      }
      if (!(e instanceof TransientRegistryError) || attempt >= o.attempts) throw e;
      // full jitter: anywhere up to the doubled delay, at least what the server asked for
      const ceiling = o.backoffMs * 2 ** (attempt - 1);
      const delay = Math.max(e.retryAfterMs ?? 0, Math.random() * ceiling);
      o.log?.(`registry ${provider.name}: ${e.message}; try ${attempt + 1} of ${o.attempts} in ${Math.round(delay)} ms`);
      await sleep(delay);
    }
  }
  await storeAnswer(pool, provider.name, inn, answer);
  return { outcome: 'stored', status: answer.found ? answer.record.status : null, requests };
}

/** A slot woken this late is given up for a new one: a late send would crowd the next ones. */
const LATE_MS = 40;

/**
 * Waits for this provider's next request slot (shared by every worker process through
 * etl.registry_slot); false when the provider is paused. If the process wakes too late (a
 * busy event loop, a slow machine), it takes a new slot rather than send out of step, so
 * the rate seen by the provider holds.
 */
async function takeSlot(pool: pg.Pool, provider: string, rps: number): Promise<boolean> {
  for (;;) {
    const { rows } = await pool.query<{ s: number | null }>('select etl.registry_slot($1, $2) as s', [provider, rps]);
    const wait = rows[0]!.s;
    if (wait === null) return false;
    const due = Date.now() + wait * 1000;
    if (wait > 0) await sleep(wait * 1000);
    if (Date.now() - due <= LATE_MS) return true;
  }
}

async function storeAnswer(pool: pg.Pool, providerName: string, inn: string, answer: RegistryAnswer): Promise<void> {
  const r = answer.found ? answer.record : null;
  await inTransaction(pool, async (client) => {
    await client.query(
      `insert into etl.registry_lookup as l (inn, provider, status, liquidation_date, full_name, short_name, legal_form,
         kpp, ogrn, address, head, raw, fetched_at, expires_at)
       values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, now(), now() + etl.registry_ttl_for($3))
       on conflict (inn) do update set provider = excluded.provider, status = excluded.status,
         liquidation_date = excluded.liquidation_date, full_name = excluded.full_name, short_name = excluded.short_name,
         legal_form = excluded.legal_form, kpp = excluded.kpp, ogrn = excluded.ogrn, address = excluded.address,
         head = excluded.head, raw = excluded.raw, fetched_at = excluded.fetched_at, expires_at = excluded.expires_at`,
      [inn, providerName, r?.status ?? null, r?.liquidationDate ?? null, r?.fullName ?? null, r?.shortName ?? null,
        r?.legalForm ?? null, r?.kpp ?? null, r?.ogrn ?? null, r?.address ?? null, r?.head ?? null, JSON.stringify(answer.raw)],
    );
    await client.query(`insert into etl.registry_changed (inn) values ($1) on conflict (inn) do update set changed_at = now()`, [inn]);
  });
}
