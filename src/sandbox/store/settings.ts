import { randomBytes } from 'node:crypto';
import type pg from 'pg';

/** Bitrix24 webhook secrets are 16 lower-case letters and digits. */
function newSecret(): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
  return [...randomBytes(16)].map((b) => alphabet[b % alphabet.length]).join('');
}

/**
 * The webhook secret: the one given, else the one kept from an earlier start, else a new
 * one; kept in the schema so a restart answers the same webhook URL.
 */
export async function webhookSecret(pool: pg.Pool, given?: string): Promise<string> {
  if (given !== undefined) {
    await pool.query(`insert into portal_setting (key, value) values ('webhook_secret', $1) on conflict (key) do update set value = excluded.value`, [given]);
    return given;
  }
  await pool.query(`insert into portal_setting (key, value) values ('webhook_secret', $1) on conflict (key) do nothing`, [newSecret()]);
  const { rows } = await pool.query<{ value: string }>(`select value from portal_setting where key = 'webhook_secret'`);
  return rows[0]!.value;
}
