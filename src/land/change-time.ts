/**
 * A source's change time as microseconds since 2000-01-01 UTC (timestamptz in binary COPY),
 * read in node from the forms a source's settings allow and no other:
 *
 * - ISO-8601: `2026-03-01`, `2026-03-01T10:00`, `2026-03-01 10:00:00.123456`, with an offset
 *   (`Z`, `+03`, `+0300`, `+03:00`) or without one — then in the source's time zone;
 * - the Russian form `01.03.2026`, `01.03.2026 10:00`, `01.03.2026 10:00:00`, in the source's zone;
 * - epoch seconds or milliseconds (a JSON number or a string of digits), only when the
 *   source's settings say which — a bare number is otherwise not a time — and only for times
 *   between 2000 and 2100 (seconds taken for milliseconds would land in 1970).
 *
 * Anything else (`03/01/2026`, `2026-02-30`, `garbage`, a number nobody declared) is not
 * guessed at: it reads as UNREADABLE and the record carries a warning with the value.
 * Read character by character, without Date: it runs for every record landed.
 */

export type Micros = number | bigint;

export type ChangeTimeFormat = 'iso' | 'epoch_seconds' | 'epoch_millis';

export interface ChangeTimeSettings {
  format: ChangeTimeFormat;
  /** The offset of times written without one: +00:00, +03:00. */
  timezone: string;
}

export const DEFAULT_CHANGE_TIME: ChangeTimeSettings = { format: 'iso', timezone: '+00:00' };

/** A value that is there but is no time in an allowed form. */
export const UNREADABLE: unique symbol = Symbol('unreadable change time');

export type ChangeTimeValue = Micros | null | typeof UNREADABLE;

/** Minutes east of UTC of a `+03:00` / `-04:30` / `Z` setting; throws on anything else. */
export function offsetMinutes(timezone: string): number {
  if (timezone === 'Z' || timezone === 'UTC') return 0;
  const match = /^([+-])(\d{2}):(\d{2})$/.exec(timezone);
  if (!match || Number(match[2]) > 15 || Number(match[3]) > 59) throw new Error(`time zone '${timezone}' must look like +03:00`);
  return (match[1] === '-' ? -1 : 1) * (Number(match[2]) * 60 + Number(match[3]));
}

/** Reads change times by one source's settings. */
export class ChangeTimeReader {
  private readonly zone: number;

  constructor(readonly settings: ChangeTimeSettings = DEFAULT_CHANGE_TIME) {
    this.zone = offsetMinutes(settings.timezone);
  }

  /** null when there is no value (absent, null, empty text); UNREADABLE when it is not a time. */
  read(value: unknown): ChangeTimeValue {
    if (value === undefined || value === null || value === '') return null;
    if (this.settings.format !== 'iso') return epoch(value, this.settings.format === 'epoch_seconds' ? 1_000_000 : 1000);
    if (typeof value !== 'string') return UNREADABLE;
    return textMicros(value, this.zone) ?? UNREADABLE;
  }
}

/** Microseconds since 2000 as a Date (to the millisecond). */
export function microsToDate(micros: Micros): Date {
  return new Date(Number(micros) / 1000 + EPOCH_2000_MICROS / 1000);
}

/** A time with an explicit offset (tests, tools, times we write ourselves); throws on anything else. */
export function isoMicros(text: string): Micros {
  const micros = textMicros(text, null);
  if (micros === null) throw new Error(`'${text}' is not an ISO-8601 time with an offset`);
  return micros;
}

/** Microseconds since 2000 of a time in text; `zone` for text without an offset (null: the offset is required). */
export function textMicros(text: string, zone: number | null): Micros | null {
  const c2 = text.charCodeAt(2);
  if (c2 === DOT) return russian(text, zone);
  const year = digits(text, 0, 4);
  const month = digits(text, 5, 2);
  const day = digits(text, 8, 2);
  if (text.charCodeAt(4) !== DASH || text.charCodeAt(7) !== DASH || !isDay(year, month, day)) return null;
  if (text.length === 10) return zone === null ? null : toMicros(year, month, day, 0, 0, 0, 0, zone);
  const t = text.charCodeAt(10);
  if (t !== 84 /* T */ && t !== SPACE) return null;
  return timeOfDay(text, 11, year, month, day, zone, true);
}

/** `dd.mm.yyyy[ hh:mm[:ss]]` — always in the source's zone. */
function russian(text: string, zone: number | null): Micros | null {
  if (zone === null) return null;
  const day = digits(text, 0, 2);
  const month = digits(text, 3, 2);
  const year = digits(text, 6, 4);
  if (text.charCodeAt(5) !== DOT || !isDay(year, month, day)) return null;
  if (text.length === 10) return toMicros(year, month, day, 0, 0, 0, 0, zone);
  if (text.charCodeAt(10) !== SPACE) return null;
  return timeOfDay(text, 11, year, month, day, zone, false);
}

/** `hh:mm[:ss[.fraction]][offset]` from `at` to the end of the text. */
function timeOfDay(text: string, at: number, year: number, month: number, day: number, zone: number | null, offsets: boolean): Micros | null {
  const hour = digits(text, at, 2);
  const minute = digits(text, at + 3, 2);
  if (text.charCodeAt(at + 2) !== COLON || hour < 0 || hour > 23 || minute < 0 || minute > 59) return null;
  let i = at + 5;
  let second = 0;
  let micros = 0;
  if (text.charCodeAt(i) === COLON) {
    second = digits(text, i + 1, 2);
    if (second < 0 || second > 59) return null;
    i += 3;
    if (offsets && text.charCodeAt(i) === DOT) {
      let n = 0;
      let scale = 100_000;
      for (i += 1; isDigit(text.charCodeAt(i)); i++, n++) {
        if (scale >= 1) micros += (text.charCodeAt(i) - 48) * scale;
        else if (scale === 0.1 && text.charCodeAt(i) >= 53) micros += 1; // the seventh digit rounds, as PostgreSQL does
        scale /= 10;
      }
      if (n === 0 || n > 9) return null;
    }
  }
  if (i === text.length) return zone === null ? null : toMicros(year, month, day, hour, minute, second, micros, zone);
  if (!offsets) return null;
  const offset = offsetAt(text, i);
  return offset === null ? null : toMicros(year, month, day, hour, minute, second, micros, offset);
}

/** `Z`, `+03`, `+0300` or `+03:00` from `i` to the end of the text, in minutes east of UTC. */
function offsetAt(text: string, i: number): number | null {
  const sign = text.charCodeAt(i);
  if (sign === 90 /* Z */) return i + 1 === text.length ? 0 : null;
  if (sign !== PLUS && sign !== DASH) return null;
  const hours = digits(text, i + 1, 2);
  let end = i + 3;
  let minutes = 0;
  if (end < text.length) {
    if (text.charCodeAt(end) === COLON) end += 1;
    minutes = digits(text, end, 2);
    end += 2;
  }
  if (hours < 0 || hours > 15 || minutes < 0 || minutes > 59 || end !== text.length) return null;
  return (sign === DASH ? -1 : 1) * (hours * 60 + minutes);
}

/** Epoch seconds or milliseconds, a number or a string of them, as microseconds since 2000. */
function epoch(value: unknown, microsPerUnit: number): ChangeTimeValue {
  let n: number;
  if (typeof value === 'number') n = value;
  else if (typeof value === 'string' && /^-?\d+(\.\d+)?$/.test(value.trim())) n = Number(value);
  else return UNREADABLE;
  const micros = Math.round(n * microsPerUnit) - EPOCH_2000_MICROS;
  // a number is read as a time only between 2000 and 2100: outside, it is the other unit
  // (seconds taken for milliseconds land in 1970) or no time at all
  if (!Number.isFinite(micros) || micros < 0 || micros >= EPOCH_CENTURY_MICROS) return UNREADABLE;
  return Number.isSafeInteger(micros) ? micros : BigInt(Math.round(n * microsPerUnit)) - BigInt(EPOCH_2000_MICROS);
}

const EPOCH_2000_MICROS = 946_684_800_000_000;
/** 2100-01-01 as microseconds since 2000-01-01. */
const EPOCH_CENTURY_MICROS = 3_155_760_000_000_000;

/** Days from 1970-01-01 to a day of the proleptic Gregorian calendar (any year, no Date). */
function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (month + (month > 2 ? -3 : 9)) + 2) / 5) + day - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146_097 + doe - 719_468;
}

const DAYS_1970_TO_2000 = 10_957;

function toMicros(year: number, month: number, day: number, hour: number, minute: number, second: number, micros: number, offset: number): Micros {
  const seconds = (daysFromCivil(year, month, day) - DAYS_1970_TO_2000) * 86_400 + hour * 3600 + (minute - offset) * 60 + second;
  const value = seconds * 1_000_000 + micros;
  return Number.isSafeInteger(value) ? value : BigInt(seconds) * 1_000_000n + BigInt(micros);
}

export function daysInMonth(year: number, month: number): number {
  if (month === 2) return year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28;
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}

/** A day of the calendar in years 1000 to 9999 (0000-00-00 and 2026-02-30 are not). */
function isDay(year: number, month: number, day: number): boolean {
  return year >= 1000 && month >= 1 && month <= 12 && day >= 1 && day <= daysInMonth(year, month);
}

const DASH = 45;
const COLON = 58;
const DOT = 46;
const SPACE = 32;
const PLUS = 43;
const isDigit = (c: number) => c >= 48 && c <= 57;

/** The decimal number in text[at, at + length), or -1 when those are not all digits. */
function digits(text: string, at: number, length: number): number {
  let n = 0;
  for (let i = at; i < at + length; i++) {
    const c = text.charCodeAt(i);
    if (!isDigit(c)) return -1;
    n = n * 10 + (c - 48);
  }
  return n;
}
