import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { parse } from 'csv-parse/sync';
import type pg from 'pg';
import { inTransaction } from '../db/connection.js';
import { copyField, copyInto } from '../db/copy.js';
import { isRegistryStatus, type RegistryAnswer, type RegistryProvider, type RegistryRecord } from './provider.js';

/** The offline registry: answers from etl.registry_snapshot, filled by `registry import`. */
export class SnapshotProvider implements RegistryProvider {
  readonly name = 'snapshot';
  readonly remote = false;
  readonly fingerprint = null;

  constructor(private readonly pool: pg.Pool) {}

  async lookup(inn: string): Promise<RegistryAnswer> {
    const { rows } = await this.pool.query<{
      status: string; full_name: string | null; short_name: string | null; legal_form: string | null; kpp: string | null;
      ogrn: string | null; address: string | null; head: string | null; liquidation_date: string | null; source_file: string;
    }>(`select status, full_name, short_name, legal_form, kpp, ogrn, address, head, to_char(liquidation_date, 'YYYY-MM-DD') as liquidation_date, source_file
        from etl.registry_snapshot where inn = $1`, [inn]);
    const row = rows[0];
    if (!row) return { found: false, raw: { snapshot: 'no row' } };
    const record: RegistryRecord = {
      inn,
      status: row.status as RegistryRecord['status'],
      liquidationDate: row.liquidation_date,
      fullName: row.full_name,
      shortName: row.short_name,
      legalForm: row.legal_form,
      kpp: row.kpp,
      ogrn: row.ogrn,
      address: row.address,
      head: row.head,
    };
    return { found: true, record, raw: { snapshot: row.source_file, ...row } };
  }

  async close(): Promise<void> {}
}

/** A snapshot file's row before checks: the columns an export has (JSON keys or CSV header). */
const FIELDS = ['inn', 'status', 'full_name', 'short_name', 'legal_form', 'kpp', 'ogrn', 'address', 'head', 'liquidation_date'] as const;

export class SnapshotInputError extends Error {}

/**
 * Reads a registry export — a JSON array of objects or a CSV with a header row, columns
 * named as FIELDS (inn and status required) — checks every row, and replaces the snapshot
 * table's contents in one transaction. A bad row stops the import naming file, row and field.
 */
export async function importSnapshot(pool: pg.Pool, path: string): Promise<number> {
  const text = readFileSync(path, 'utf8');
  const rows = path.toLowerCase().endsWith('.csv') ? parseCsv(text, path) : parseJson(text, path);
  const checked = rows.map((row, i) => checkRow(row, `${path}: row ${i + 1}`));
  const seen = new Set<string>();
  checked.forEach((row, i) => {
    if (seen.has(row.inn)) throw new SnapshotInputError(`${path}: row ${i + 1}: INN ${row.inn} appears twice`);
    seen.add(row.inn);
  });
  await inTransaction(pool, async (client) => {
    await client.query('truncate etl.registry_snapshot');
    const file = basename(path);
    await copyInto(client, `copy etl.registry_snapshot (${FIELDS.join(', ')}, source_file) from stdin`,
      checked.map((row) => `${FIELDS.map((f) => copyField(row[f])).join('\t')}\t${copyField(file)}\n`));
  });
  return checked.length;
}

type SnapshotRow = Record<(typeof FIELDS)[number], string | null> & { inn: string };

function checkRow(raw: Record<string, unknown>, where: string): SnapshotRow {
  const row = {} as Record<(typeof FIELDS)[number], string | null>;
  for (const field of FIELDS) {
    const value = raw[field];
    if (value !== undefined && value !== null && typeof value !== 'string' && typeof value !== 'number') {
      throw new SnapshotInputError(`${where}: ${field} must be text`);
    }
    row[field] = value === undefined || value === null || String(value).trim() === '' ? null : String(value).trim();
  }
  if (!row.inn || !/^\d{10}(\d{2})?$/.test(row.inn)) throw new SnapshotInputError(`${where}: inn ${JSON.stringify(row.inn)} is not 10 or 12 digits`);
  if (!isRegistryStatus(row.status)) throw new SnapshotInputError(`${where}: status ${JSON.stringify(row.status)} is not one of ACTIVE, LIQUIDATING, LIQUIDATED, BANKRUPT, REORGANIZING`);
  if (row.liquidation_date && !/^\d{4}-\d{2}-\d{2}$/.test(row.liquidation_date)) {
    throw new SnapshotInputError(`${where}: liquidation_date ${JSON.stringify(row.liquidation_date)} is not YYYY-MM-DD`);
  }
  return { ...row, inn: row.inn };
}

function parseJson(text: string, path: string): Array<Record<string, unknown>> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new SnapshotInputError(`${path}: not valid JSON: ${(e as Error).message}`);
  }
  if (!Array.isArray(parsed) || parsed.some((r) => typeof r !== 'object' || r === null || Array.isArray(r))) {
    throw new SnapshotInputError(`${path}: expected a JSON array of objects`);
  }
  return parsed as Array<Record<string, unknown>>;
}

/** A CSV export with a header row (csv-parse: quoted fields, commas and newlines in them, BOM). */
function parseCsv(text: string, path: string): Array<Record<string, unknown>> {
  let rows: Array<Record<string, unknown>>;
  try {
    rows = parse(text, { columns: (header: string[]) => header.map((h) => h.trim().toLowerCase()), bom: true, skip_empty_lines: true, trim: true });
  } catch (e) {
    throw new SnapshotInputError(`${path}: ${(e as Error).message}`);
  }
  if (rows.length > 0) {
    for (const required of ['inn', 'status']) {
      if (!(required in rows[0]!)) throw new SnapshotInputError(`${path}: the header has no ${required} column`);
    }
  }
  return rows;
}
