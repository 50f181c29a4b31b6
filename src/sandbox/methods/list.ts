import type pg from 'pg';
import type { MethodResult } from '../envelope.js';
import { isObject, param, type Params } from './method.js';

/** List pages are always 50 rows (CORE-REST rest.php IRestService::LIST_LIMIT). */
export const PAGE_SIZE = 50;

// longest first, so `!=%` is not read as `!=` and `>=` not as `>`
const PREFIXES = ['!=%', '!%=', '>=', '<=', '=%', '%=', '!%', '!@', '!=', '>', '<', '@', '%', '=', '!'] as const;
type Prefix = (typeof PREFIXES)[number] | '';

/** `>=DATE_CREATE` as its operator and the field's name as written. */
export function filterPrefix(key: string): { prefix: Prefix; name: string } {
  for (const prefix of PREFIXES) if (key.startsWith(prefix)) return { prefix, name: key.slice(prefix.length) };
  return { prefix: '', name: key };
}

export function splitFilterKey(key: string): { prefix: Prefix; field: string } {
  const { prefix, name } = filterPrefix(key);
  return { prefix, field: name.toUpperCase() };
}

export interface ListSpec {
  table: string;
  /** Fields a filter or order may name; others are ignored, as the portal ignores them. */
  fields: ReadonlySet<string>;
  /** SQL for a field other than the stored ones (multifield matches); without `value`, whether it knows the field. */
  special?: (field: string, value?: string) => string | null;
  /** Legacy CDBResult lists round `start` down to a page; ORM lists take it as given. */
  roundOffset: boolean;
  /** The id column, when the table has one. */
  idColumn?: string;
  /** Fields the portal keeps as numbers: ordered by value, not as text (`SORT` 100 after 20). */
  numeric?: ReadonlySet<string>;
  defaultOrder?: string;
  toRow(row: { id?: string; fields: Record<string, unknown> }, select: string[]): Promise<Record<string, unknown>> | Record<string, unknown>;
}

const numeric = (expr: string) => `(case when (${expr}) ~ '^-?[0-9]+(\\.[0-9]+)?$' then (${expr})::numeric end)`;

function column(spec: ListSpec, field: string): string {
  if (field === 'ID' && spec.idColumn) return `${spec.idColumn}::text`;
  return `(fields ->> '${field.replaceAll("'", "''")}')`;
}

function asList(value: unknown): string[] {
  const items = Array.isArray(value) ? value : isObject(value) ? Object.values(value) : [value];
  return items.map((v) => (v === null || v === undefined ? '' : String(v)));
}

function condition(spec: ListSpec, prefix: Prefix, field: string, value: unknown, bind: (v: unknown) => string): string | null {
  if (!spec.fields.has(field) && field !== 'ID') {
    // bound only when used: an unused parameter has no type and fails the query
    return spec.special?.(field) ? spec.special(field, bind(String(value))) : null;
  }
  const col = column(spec, field);
  const isNumber = typeof value === 'number' || (typeof value === 'string' && /^-?\d+(\.\d+)?$/.test(value));
  switch (prefix) {
    case '>': case '<': case '>=': case '<=':
      return isNumber ? `${numeric(col)} ${prefix} ${bind(String(value))}::numeric` : `${col} ${prefix} ${bind(String(value))}`;
    case '@':
      return `${col} = any(${bind(asList(value))}::text[])`;
    case '!@':
      return `(${col} is null or not ${col} = any(${bind(asList(value))}::text[]))`;
    case '%':
      return `${col} ilike '%' || ${bind(String(value))} || '%'`;
    case '=%': case '%=':
      return `${col} ilike ${bind(String(value))}`;
    case '!%':
      return `(${col} is null or ${col} not ilike '%' || ${bind(String(value))} || '%')`;
    case '!=%': case '!%=':
      return `(${col} is null or ${col} not ilike ${bind(String(value))})`;
    case '!': case '!=':
      if (Array.isArray(value)) return `(${col} is null or not ${col} = any(${bind(asList(value))}::text[]))`;
      if (value === '' || value === null) return `(${col} is not null and ${col} <> '')`;
      return `(${col} is null or ${col} <> ${bind(String(value))})`;
    default:
      if (Array.isArray(value)) return `${col} = any(${bind(asList(value))}::text[])`;
      if (value === '' || value === null || value === false) return `(${col} is null or ${col} = '')`;
      return `${col} = ${bind(String(value))}`;
  }
}

export function selectList(params: Params): string[] {
  const select = param(params, 'select');
  const list = Array.isArray(select) ? select : isObject(select) ? Object.values(select) : [];
  const names = list.map((s) => String(s).toUpperCase());
  return names.length === 0 ? ['*'] : names;
}

/** Paging as legacy lists do it: 50 a page, `next` only when more rows exist, `start=-1` counts nothing. */
export async function listRows(db: pg.PoolClient, spec: ListSpec, params: Params, where: string[] = [], values: unknown[] = []): Promise<MethodResult> {
  const bind = (v: unknown) => {
    values.push(v);
    return `$${values.length}`;
  };
  const filter = param(params, 'filter');
  if (isObject(filter)) {
    for (const [key, value] of Object.entries(filter)) {
      const { prefix, field } = splitFilterKey(key);
      const sql = condition(spec, prefix, field, value, bind);
      if (sql) where.push(sql);
    }
  }
  const orderParam = param(params, 'order');
  const order: string[] = [];
  if (isObject(orderParam)) {
    for (const [key, direction] of Object.entries(orderParam)) {
      const field = key.toUpperCase();
      if (!spec.fields.has(field) && field !== 'ID') continue;
      const dir = String(direction).toUpperCase() === 'DESC' ? 'desc' : 'asc';
      if (field === 'ID' && spec.idColumn) order.push(`${spec.idColumn} ${dir}`);
      else order.push(`${spec.numeric?.has(field) ? numeric(column(spec, field)) : column(spec, field)} ${dir}`);
    }
  }
  order.push(spec.defaultOrder ?? `${spec.idColumn} asc`);
  const whereSql = where.length ? `where ${where.join(' and ')}` : '';
  const startText = String(params.start ?? params.START ?? '0');
  const start = Number.parseInt(startText, 10);
  const fast = start === -1;
  const wanted = fast || !Number.isFinite(start) || start < 0 ? 0 : Math.min(start, Number.MAX_SAFE_INTEGER);
  const offset = spec.roundOffset ? Math.floor(wanted / PAGE_SIZE) * PAGE_SIZE : wanted;
  const idSelect = spec.idColumn ? `${spec.idColumn}::text as row_id, ` : '';
  const { rows } = await db.query<{ row_id?: string; fields: Record<string, unknown> }>(
    `select ${idSelect}fields from ${spec.table} ${whereSql} order by ${order.join(', ')} limit ${PAGE_SIZE} offset ${offset}`,
    values,
  );
  const select = selectList(params);
  const result = [];
  for (const row of rows) result.push(await spec.toRow({ id: row.row_id, fields: row.fields }, select));
  if (fast) return { result, total: 0 };
  const { rows: counted } = await db.query<{ n: string }>(`select count(*) as n from ${spec.table} ${whereSql}`, values);
  const total = Number(counted[0]!.n);
  const answer: MethodResult = { result, total };
  if (offset + PAGE_SIZE < total) answer.next = offset + PAGE_SIZE;
  return answer;
}

/** A stored row as reads return it: every field the method has, null when never written. */
export function everyField(fields: readonly string[], stored: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(fields.map((name) => [name, stored[name] ?? null]));
}

/** Picks the selected fields of a row; `*` means every stored field (multifields are not stored ones). */
export function applySelect(row: Record<string, unknown>, select: string[], always: string[] = ['ID']): Record<string, unknown> {
  if (select.includes('*')) return row;
  const picked: Record<string, unknown> = {};
  for (const name of [...always, ...select]) if (name in row) picked[name] = row[name];
  return picked;
}
