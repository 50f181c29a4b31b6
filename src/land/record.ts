import { daysInMonth, zonedMicros } from '../db/copy-binary.js';

/** What a loader hands to the staging writer: one record exactly as the source sent it. */
export interface SourceRecord {
  sourceKey: string;
  /** Source's own last-change time (ISO-8601), when it has one. */
  updatedAt: string | null;
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
}

export type Entity = 'company' | 'contact';

/** CLI and file names say companies/contacts; the warehouse says company/contact. */
export function parseEntity(value: string): Entity {
  if (value === 'companies' || value === 'company') return 'company';
  if (value === 'contacts' || value === 'contact') return 'contact';
  throw new Error(`unknown entity '${value}': use companies or contacts`);
}

const ISO_TIMESTAMP = /^\d{4}-[01]\d-[0-3]\d(?:[T ][0-2]\d:[0-5]\d(?::[0-5]\d(?:\.\d{1,9})?)?)?(?:Z|[+-][0-2]\d(?::?[0-5]\d)?)?$/;

/** A timestamp from a source field as PostgreSQL reads it, or null when it is not a date. */
export function toTimestamp(value: unknown): string | null {
  // the common form, ISO-8601 with an offset, is read character by character (a hot path)
  if (typeof value === 'string' && zonedMicros(value) !== null) return value;
  // other ISO-8601 text goes through as sent (no Date round trip); anything else must parse as a date
  // (Date.parse takes 29 February 2023 for 1 March; the server refuses it, so it is no date)
  if (typeof value === 'string' && ISO_TIMESTAMP.test(value)) return isCalendarDate(value) && !Number.isNaN(Date.parse(value)) ? value : null;
  if (typeof value !== 'string' && typeof value !== 'number') return null;
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? null : date.toISOString();
}

/** Whether the YYYY-MM-DD an ISO-8601 text starts with is a day of the calendar. */
function isCalendarDate(iso: string): boolean {
  const year = Number(iso.slice(0, 4));
  const month = Number(iso.slice(5, 7));
  const day = Number(iso.slice(8, 10));
  return month >= 1 && month <= 12 && day >= 1 && day <= daysInMonth(year, month);
}
