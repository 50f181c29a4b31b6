import type pg from 'pg';
import type { BatchCommand } from '../batch.js';
import { withoutNul } from '../nul.js';

/** One HTTP request the portal received, as recorded in `call` and `call_command`. */
export interface SandboxCall {
  id: number;
  at: Date;
  /** The client's IP address. */
  client: string;
  /** Lower-case method name (`batch` for a batch). */
  method: string;
  params: unknown;
  status: number;
  error: string | null;
  errorDescription: string | null;
  /** The fault injected into this call, if any (`drop`, `html 504`, ...). */
  fault: string | null;
  seconds: number;
  /** A batch's commands in order, with the params after `$result` substitution. */
  commands: Array<{ key: string; method: string; params: unknown; error: string | null; errorDescription: string | null }>;
}

export interface CallFilter {
  method?: string;
  /** Also the batches that carry a command of `method`. */
  withinBatch?: boolean;
}

export interface CallRecord {
  at: Date;
  client: string;
  method: string;
  params: unknown;
  status: number;
  error?: string | null;
  errorDescription?: string | null;
  fault?: string | null;
  seconds: number;
  commands?: BatchCommand[];
}

/** Records a call; NUL bytes, which PostgreSQL cannot hold, are kept as U+FFFD. */
export async function recordCall(pool: pg.Pool, given: CallRecord): Promise<void> {
  const call: CallRecord = {
    ...given,
    method: withoutNul(given.method) as string,
    params: withoutNul(given.params),
    errorDescription: withoutNul(given.errorDescription) as string | null | undefined,
    commands: given.commands?.map((c) => withoutNul(c) as BatchCommand),
  };
  const { rows } = await pool.query<{ id: string }>(
    `insert into call (at, client, method, params, status, error, error_description, fault, seconds)
     values ($1, $2, $3, $4, $5, $6, $7, $8, $9) returning id`,
    [call.at, call.client, call.method, JSON.stringify(call.params ?? {}), call.status, call.error ?? null, call.errorDescription ?? null, call.fault ?? null, call.seconds],
  );
  const commands = call.commands ?? [];
  if (commands.length === 0) return;
  await pool.query(
    `insert into call_command (call_id, position, key, method, params, error, error_description)
     select $1, c.ordinality - 1, c.value ->> 'key', c.value ->> 'method', c.value -> 'params', c.value ->> 'error', c.value ->> 'error_description'
     from jsonb_array_elements($2::jsonb) with ordinality as c (value, ordinality)`,
    [rows[0]!.id, JSON.stringify(commands.map((c) => ({ key: c.key, method: c.method, params: c.params, error: c.error?.error ?? null, error_description: c.error?.error_description ?? null })))],
  );
}

export async function listCalls(pool: pg.Pool, filter: CallFilter = {}): Promise<SandboxCall[]> {
  const method = filter.method?.toLowerCase() ?? null;
  const { rows } = await pool.query(
    `select c.id, c.at, c.client, c.method, c.params, c.status, c.error, c.error_description, c.fault, c.seconds,
            coalesce((select jsonb_agg(jsonb_build_object('key', k.key, 'method', k.method, 'params', k.params,
                        'error', k.error, 'errorDescription', k.error_description) order by k.position)
                      from call_command k where k.call_id = c.id), '[]') as commands
     from call c
     where $1::text is null or c.method = $1
        or ($2 and exists (select 1 from call_command k where k.call_id = c.id and k.method = $1))
     order by c.id`,
    [method, filter.withinBatch ?? false],
  );
  return rows.map((r) => ({
    id: Number(r.id), at: r.at, client: r.client, method: r.method, params: r.params, status: r.status, error: r.error,
    errorDescription: r.error_description, fault: r.fault, seconds: r.seconds, commands: r.commands,
  }));
}
