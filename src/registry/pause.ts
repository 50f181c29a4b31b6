import { createHash } from 'node:crypto';
import type pg from 'pg';

/** The graphile-worker flag on registry_check jobs: a worker skips them while the provider is paused. */
export const REGISTRY_FLAG = 'registry';

/** Why a provider is paused: a spent daily quota (ends by itself) or our configuration (a person must act). */
export type PauseKind = 'quota' | 'config';

export interface Pause {
  provider: string;
  kind: PauseKind;
  /** null: until the settings change or someone resumes it. */
  until: Date | null;
  since: Date | null;
  reason: string;
  fingerprint: string | null;
}

/**
 * A short digest of the settings a provider was refused with (URL and token), so a pause
 * can tell whether the configuration changed since. Irreversible and truncated: it never
 * stands in for the token.
 */
export function configFingerprint(...parts: string[]): string {
  return createHash('sha256').update(`b2b-etl registry\0${parts.join('\0')}`).digest('hex').slice(0, 16);
}

/** Pauses the provider; true when this call paused it (false: it was paused already). */
export async function pauseProvider(pool: pg.Pool, provider: string, p: { kind: PauseKind; until: Date | null; reason: string; fingerprint: string | null }): Promise<boolean> {
  const { rows } = await pool.query<{ paused: boolean }>(
    'select etl.registry_pause($1, $2, $3, $4, $5) as paused',
    [provider, p.until ?? 'infinity', p.reason, p.kind, p.fingerprint],
  );
  return rows[0]!.paused;
}

/** The pauses in force, every provider or one. */
export async function currentPauses(pool: pg.Pool, provider?: string): Promise<Pause[]> {
  const { rows } = await pool.query<{ provider: string; pause_kind: PauseKind | null; paused_until: Date | number; paused_at: Date | null; pause_reason: string | null; config_fingerprint: string | null }>(
    `select provider, pause_kind, paused_until, paused_at, pause_reason, config_fingerprint
     from etl.registry_pacing where paused_until > now() and ($1::text is null or provider = $1) order by provider`,
    [provider ?? null],
  );
  return rows.map((r) => ({
    provider: r.provider,
    kind: r.pause_kind ?? 'quota',
    until: r.paused_until instanceof Date ? r.paused_until : null, // 'infinity' arrives as a number
    since: r.paused_at,
    reason: r.pause_reason ?? 'paused',
    fingerprint: r.config_fingerprint,
  }));
}

/**
 * The provider's pause in force for a process configured with `fingerprint`. A pause for a
 * configuration error that was made with other settings (a new token, another URL) is
 * lifted: the person has acted.
 */
export async function activePause(pool: pg.Pool, provider: string, fingerprint: string | null, log?: (line: string) => void): Promise<Pause | null> {
  const [pause] = await currentPauses(pool, provider);
  if (!pause) return null;
  if (pause.kind === 'config' && fingerprint !== null && pause.fingerprint !== null && pause.fingerprint !== fingerprint) {
    const resumed = await liftPause(pool, provider, pause.fingerprint);
    if (resumed) log?.(`registry ${provider}: the token or URL changed since it was refused; checks resume (${resumed.checks} held back are due now)`);
    return null;
  }
  return pause;
}

/**
 * Lifts a provider's pause (only the one made with `fingerprint`, when given, so two
 * processes lifting at once do it once) and makes the checks it held back due now, keeping
 * their attempts and last error. Returns null when there was no such pause.
 */
export async function liftPause(pool: pg.Pool, provider: string, fingerprint?: string | null): Promise<{ checks: number } | null> {
  const { rowCount } = await pool.query(
    `update etl.registry_pacing set paused_until = null, pause_kind = null, paused_at = null, pause_reason = null, config_fingerprint = null
     where provider = $1 and paused_until is not null and ($2::text is null or config_fingerprint = $2)`,
    [provider, fingerprint ?? null],
  );
  if (!rowCount) return null;
  const { rows } = await pool.query<{ n: string }>(
    `select count(*) as n from graphile_worker.reschedule_jobs(array(
       select id from graphile_worker.jobs
       where task_identifier = 'registry_check' and run_at > now() and attempts < max_attempts and locked_at is null
     ), run_at => now())`,
  );
  return { checks: Number(rows[0]!.n) };
}

/** Raised by a registry_check while its provider is paused for a configuration error: the job waits, failed, with the reason. */
export class RegistryPausedError extends Error {}

/** The registry checks in graphile-worker's queue: waiting, failing (tried and erred) and given up. */
export async function checkQueue(pool: pg.Pool): Promise<{ waiting: number; failing: number; givenUp: number; lastError: string | null }> {
  const { rows } = await pool.query<{ waiting: string; failing: string; given_up: string; last_error: string | null }>(
    `select count(*) filter (where attempts < max_attempts) as waiting,
            count(*) filter (where attempts > 0 and attempts < max_attempts) as failing,
            count(*) filter (where attempts >= max_attempts) as given_up,
            (array_agg(last_error order by updated_at desc) filter (where last_error is not null))[1] as last_error
     from graphile_worker.jobs where task_identifier = 'registry_check'`);
  const r = rows[0]!;
  return { waiting: Number(r.waiting), failing: Number(r.failing), givenUp: Number(r.given_up), lastError: r.last_error };
}

/** One paragraph on a pause: what, since when, and what lifts it. */
export function describePause(pause: Pause): string {
  const since = pause.since ? ` since ${pause.since.toISOString()}` : '';
  if (pause.kind === 'quota') {
    return `registry ${pause.provider} paused${since} until ${pause.until?.toISOString() ?? 'resumed'}: ${pause.reason}; the checks wait for then, no company is rejected for it`;
  }
  return `registry ${pause.provider} paused${since}: ${pause.reason}. No company is rejected for it; the checks wait. ` +
    'Fix the setting and run again (a different token or URL lifts the pause), or run `b2b-etl registry resume` once fixed on the provider\'s side';
}
