import type pg from 'pg';
import { inTransaction } from '../db/connection.js';
import { QuotaExhaustedError, TransientRegistryError, type RegistryAnswer, type RegistryProvider } from './provider.js';

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
  | { outcome: 'paused'; until: Date; reason: string };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * One registry check: never for an invalid INN; nothing when a fresh answer is cached;
 * otherwise a request in this provider's next free slot, retried with exponential backoff
 * and jitter when it fails transiently. A spent quota pauses the provider until its
 * reset and returns 'paused' (the caller re-queues; nobody is rejected for it). The
 * answer is stored with its TTL, and the INN marked for the next transform, in one
 * transaction.
 */
export async function checkRegistry(pool: pg.Pool, provider: RegistryProvider, inn: string, o: CheckOptions): Promise<CheckResult> {
  const { rows } = await pool.query<{ valid: boolean; status: string | null; fresh: boolean | null; paused_until: Date | null; pause_reason: string | null }>(
    `select etl.inn_is_valid($1) as valid, l.status, l.expires_at > now() as fresh, p.paused_until, p.pause_reason
     from (select 1) as one
     left join etl.registry_lookup l on l.inn = $1
     left join etl.registry_pacing p on p.provider = $2 and p.paused_until > now()`,
    [inn, provider.name],
  );
  const state = rows[0]!;
  if (!state.valid) return { outcome: 'invalid' };
  if (state.fresh && !o.force) return { outcome: 'cached', status: state.status };
  if (state.paused_until) return { outcome: 'paused', until: state.paused_until, reason: state.pause_reason ?? 'paused' };

  let answer: RegistryAnswer | null = null;
  let requests = 0;
  for (let attempt = 1; answer === null; attempt++) {
    if (provider.remote) await takeSlot(pool, provider.name, o.rps);
    try {
      requests += 1;
      answer = await provider.lookup(inn);
    } catch (e) {
      if (e instanceof QuotaExhaustedError) {
        await pool.query(
          `insert into etl.registry_pacing (provider, paused_until, pause_reason) values ($1, $2, $3)
           on conflict (provider) do update set paused_until = greatest(etl.registry_pacing.paused_until, excluded.paused_until),
             pause_reason = excluded.pause_reason`,
          [provider.name, e.resetsAt, e.message],
        );
        o.log?.(`registry ${provider.name}: ${e.message}; checks pause until ${e.resetsAt.toISOString()}`);
        return { outcome: 'paused', until: e.resetsAt, reason: e.message };
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
 * etl.registry_slot). If the process wakes too late (a busy event loop, a slow machine), it
 * takes a new slot rather than send out of step, so the rate seen by the provider holds.
 */
async function takeSlot(pool: pg.Pool, provider: string, rps: number): Promise<void> {
  for (;;) {
    const { rows } = await pool.query<{ s: number }>('select etl.registry_slot($1, $2) as s', [provider, rps]);
    const due = Date.now() + rows[0]!.s * 1000;
    if (rows[0]!.s > 0) await sleep(rows[0]!.s * 1000);
    if (Date.now() - due <= LATE_MS) return;
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
