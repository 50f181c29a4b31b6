import type pg from 'pg';
import { crmError, errors, type MethodResult } from '../envelope.js';

/** What a method sees: one transaction, the call's time, and the portal's switches. */
export interface MethodContext {
  db: pg.PoolClient;
  now: Date;
  userId: number;
  settings: PortalSettings;
  /** Adds simulated execution time to the call (import's per-item cost). */
  charge(seconds: number): void;
}

export interface PortalSettings {
  importRight: boolean;
  importItemSeconds: number;
  findByCommErrors: 'docs' | 'code';
}

export type Params = Record<string, unknown>;
export type Handler = (ctx: MethodContext, params: Params) => Promise<MethodResult>;

/**
 * Legacy crm.* methods also read `FIELDS`, `Fields` and `arFields` for `fields`, and the same
 * variants for filter, order and select (CORE-CRM restservice.php CCrmRestHelper).
 */
export function param(params: Params, name: string): unknown {
  const capital = name[0]!.toUpperCase() + name.slice(1);
  for (const key of [name, name.toUpperCase(), capital, `ar${capital}`]) {
    if (params[key] !== undefined) return params[key];
  }
  return undefined;
}

export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** An object, or an array PHP would also call an array; anything else is refused. */
export function fieldsParam(params: Params): Record<string, unknown> {
  const fields = param(params, 'fields');
  if (Array.isArray(fields)) return { ...fields };
  if (!isObject(fields)) throw errors.fieldsNotArray();
  return fields;
}

export function positiveInt(value: unknown): number | null {
  const text = typeof value === 'number' ? String(value) : typeof value === 'string' ? value.trim() : '';
  if (!/^\d+$/.test(text)) return null;
  const n = Number(text);
  return n > 0 && Number.isSafeInteger(n) ? n : null;
}

/** PHP's floatval: the leading number of a string, 0 when there is none (`"lots"` is 0, `"12.5 RUB"` 12.5). */
export function phpFloat(value: unknown): number {
  if (typeof value === 'number') return Number.isFinite(value) ? value : 0;
  const match = /^\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?/.exec(typeof value === 'string' ? value : '');
  return match ? Number(match[0]) : 0;
}

/** The `id` of get/update/delete (`id` or `ID`), or "ID is not defined or invalid." */
export function idParam(params: Params): number {
  const id = positiveInt(params.id ?? params.ID);
  if (id === null) throw errors.idInvalid();
  return id;
}

/** A required positive id inside fields, or `<NAME> is not defined or invalid.` */
export function requiredId(fields: Record<string, unknown>, name: string): number {
  const id = positiveInt(fields[name]);
  if (id === null) throw crmError(`${name} is not defined or invalid.`);
  return id;
}

/** Legacy crm.* return scalar values as strings (`"ID":"2919"`); PHP writes true as "1" and false as "". */
export function asPortalString(value: unknown): unknown {
  if (value === null || value === undefined) return null;
  if (typeof value === 'boolean') return value ? '1' : '';
  if (typeof value === 'number' || typeof value === 'bigint') return String(value);
  return value;
}

/** Keeps the known fields, as strings; unknown ones are silently dropped, as the portal does. */
export function knownFields(fields: Record<string, unknown>, known: ReadonlySet<string>): Record<string, unknown> {
  const kept: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(fields)) {
    const upper = name.toUpperCase();
    if (known.has(upper)) kept[upper] = Array.isArray(value) || isObject(value) ? value : asPortalString(value);
  }
  return kept;
}

/** COMMENTS are HTML-sanitised by the portal: scripts, styles and event handlers go. */
export function sanitizeHtml(text: string): string {
  return text
    .replace(/<(script|style|iframe|object)\b[^>]*>[\s\S]*?<\/\1\s*>/gi, '')
    .replace(/<(script|style|iframe|object)\b[^>]*\/?>/gi, '')
    .replace(/\s+on[a-z]+\s*=\s*("[^"]*"|'[^']*'|[^\s>]+)/gi, '')
    .replace(/javascript:/gi, '');
}
