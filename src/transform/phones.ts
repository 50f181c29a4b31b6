import { parsePhoneNumberFromString, type CountryCode } from 'libphonenumber-js/max';
import type pg from 'pg';
import { inTransaction } from '../db/connection.js';
import { landRows } from '../db/copy.js';

export interface ParsedPhone {
  e164: string | null;
  extension: string | null;
  type: string | null;
}

// Russian ways of writing an extension, which the parser does not know.
const EXTENSION_WORDS = /\s*[,;]?\s*(?:доб(?:авочный)?|вн(?:утр(?:енний)?)?|добав)\.?\s*(?=\d)/iu;

/** One raw phone text -> E.164 (max metadata), its extension kept apart; null e164 when not valid. */
export function parsePhone(raw: string, region: CountryCode = 'RU'): ParsedPhone {
  const text = raw.replace(EXTENSION_WORDS, ' ext. ');
  const phone = parsePhoneNumberFromString(text, region);
  if (!phone || !phone.isValid()) return { e164: null, extension: null, type: null };
  return { e164: phone.number, extension: phone.ext ?? null, type: phone.getType() ?? null };
}

export interface DictionaryFill {
  /** New phone texts parsed. */
  parsed: number;
  /** The batches whose phones are now all in the dictionary: what the transform may take. */
  batches: number[];
}

/** Up to this many new phone texts go in as one insert; more through COPY. */
const SMALL_FILL = 5000;

/**
 * Fills etl.phone_dictionary with every raw phone text of the batches the next transform
 * will read (all batches when `all`) that it does not know yet.
 */
export async function fillPhoneDictionary(pool: pg.Pool, options: { all?: boolean } = {}): Promise<DictionaryFill> {
  return inTransaction(pool, async (client) => {
    // the rows of these batches lie above the lowest bound: the filter reaches staging.record's
    // primary key through the view
    const { rows: [pending] } = await client.query<{ ids: string[] | null; rows: string | null; since: string | null; region: string | null }>(
      `select array_agg(batch_id) as ids, sum(rows_landed) as rows, min(first_staging_id) as since,
         (select value from etl.setting where name = 'phone_default_region') as region
       from staging.batch where $1 or transformed_at is null`,
      [options.all ?? false],
    );
    if (!pending?.ids) return { parsed: 0, batches: [] };
    const region = (pending.region || 'RU') as CountryCode;
    const batches = pending.ids.map(Number);
    // A small run's phones are looked up in the dictionary by index, not by hashing all of it.
    await client.query('select etl.mark_small_run($1), etl.prefer_lookups(true)', [options.all ? null : pending.rows]);
    const { rows } = await client.query<{ raw: string }>(
      `select distinct p.raw
       from staging.raw_phone p
       where p.staging_id > $2 and p.batch_id = any($1::bigint[])
         and not exists (select from etl.phone_dictionary d where d.raw = p.raw)`,
      [pending.ids, pending.since],
    );
    if (rows.length === 0) return { parsed: 0, batches };
    const parsed = rows.map(({ raw }) => {
      const phone = parsePhone(raw, region);
      return [raw, phone.e164, phone.extension, phone.type];
    });
    if (parsed.length <= SMALL_FILL) {
      // a live feed's few hundred phones: one statement (COPY through a temporary table costs
      // four round trips and a table's catalog rows, several times the statement's own work)
      await client.query(
        `insert into etl.phone_dictionary (raw, e164, extension, phone_type)
         select * from unnest($1::text[], $2::text[], $3::text[], $4::text[]) on conflict (raw) do nothing`,
        [0, 1, 2, 3].map((column) => parsed.map((row) => row[column])));
    } else {
      await landRows(client, 'etl.phone_dictionary', ['raw', 'e164', 'extension', 'phone_type'], parsed, 'on conflict (raw) do nothing');
    }
    return { parsed: rows.length, batches };
  });
}
