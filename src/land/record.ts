import crypto from 'node:crypto';
import type { Micros } from './change-time.js';

/** What a loader could not take from a record as it is; the transform rejects by it. */
export interface LandingIssue {
  reason: 'key_missing' | 'unparseable' | 'updated_unparseable' | 'nul_removed';
  severity: 'error' | 'warning';
  detail: string;
  value?: string | null;
}

/** What a loader hands to the staging writer: one record exactly as the source sent it. */
export interface SourceRecord {
  sourceKey: string;
  /** The source's own last-change time (microseconds since 2000-01-01 UTC), when it has a readable one. */
  updatedAt: Micros | null;
  isDeleted: boolean;
  /** The parsed record; undefined when the source sent something that does not parse. */
  payload: unknown;
  /** What arrived, when it could not be parsed. */
  rawText?: string;
  /**
   * The payload's JSON text as it arrived, when the loader has it: landed and hashed as is
   * instead of serialising the payload again (the same message always hashes the same).
   */
  payloadText?: string;
  /** payloadText's UTF-8 bytes as they arrived, when the loader has them (a Kafka message): landed without encoding the text again. */
  payloadBytes?: Buffer;
  issues?: LandingIssue[];
}

export type Entity = 'company' | 'contact' | 'order';

const PLURAL = { company: 'companies', contact: 'contacts', order: 'orders' } as const;

/** What the CLI, file names and the configuration call an entity: companies, contacts, orders. */
export function entityPlural<E extends Entity>(entity: E): (typeof PLURAL)[E] {
  return PLURAL[entity];
}

/** CLI and file names say companies/contacts/orders; the warehouse says company/contact/order. */
export function parseEntity(value: string): Entity {
  for (const [entity, plural] of Object.entries(PLURAL) as Array<[Entity, string]>) {
    if (value === plural || value === entity) return entity;
  }
  throw new Error(`unknown entity '${value}': use companies, contacts or orders`);
}

/**
 * The key of a record that has none: derived from what it holds, so the same record landed
 * again is the same row, and never from where it was (a position would turn into another
 * record's key in the next export). Such a record is always rejected key_missing.
 */
export function keylessKey(content: string | Buffer): string {
  return `#nokey:${crypto.createHash('md5').update(content).digest('hex')}`;
}

/** A source key from a field's value: text as it is, a number digit for digit; null when there is none. */
export function keyText(value: unknown): string | null {
  if (typeof value === 'string') return value.trim() === '' ? null : value;
  if (typeof value === 'number' && Number.isSafeInteger(value)) return String(value);
  return null;
}

export function keyMissing(field: string, setting: string, value?: unknown): LandingIssue {
  const what = value === undefined ? `no field '${field}' holding text or a number` : `field '${field}' is ${describe(value)}`;
  return { reason: 'key_missing', severity: 'error', detail: `${what}: a record needs a key to be updated or deleted later (${setting})`, value: value === undefined ? null : JSON.stringify(value) };
}

export function updatedUnparseable(field: string, value: unknown, setting: string): LandingIssue {
  return {
    reason: 'updated_unparseable',
    severity: 'warning',
    detail: `field '${field}' is not a change time in a form the source's settings allow (${setting}); the version has no change time`,
    value: typeof value === 'string' ? value : JSON.stringify(value),
  };
}

export function unparseable(detail: string): LandingIssue {
  return { reason: 'unparseable', severity: 'error', detail };
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'string') return 'empty';
  if (typeof value === 'number') return `a number JavaScript cannot hold exactly (${value})`;
  return Array.isArray(value) ? 'an array' : `a${typeof value === 'object' ? 'n object' : ` ${typeof value}`}`;
}
