import iconv from 'iconv-lite';
import { parse as parseLossless } from 'lossless-json';
import { ChangeTimeReader, UNREADABLE, type ChangeTimeValue } from './change-time.js';
import { keyMissing, keylessKey, unparseable, updatedUnparseable, type Entity, type LandingIssue, type SourceRecord } from './record.js';

/** The event types store B sends; anything else is landed as unparseable. */
export const EVENT_TYPES = ['company.upserted', 'company.deleted', 'contact.upserted', 'contact.deleted', 'order.upserted', 'order.deleted'] as const;
export type EventType = (typeof EVENT_TYPES)[number];
const KNOWN_TYPES: ReadonlySet<string> = new Set(EVENT_TYPES);

/** How one source's events are read: its fallback encoding and its change times' form. */
export interface EventSettings {
  fallbackEncoding: 'cp1251' | null;
  times: ChangeTimeReader;
  /** The configuration path named in the warnings (sources.store_b_events). */
  setting: string;
}

export interface KafkaMessageIn {
  topic: string;
  partition: number;
  offset: string;
  key: Buffer | null;
  value: Buffer | null;
  timestamp: string;
}

export interface ReadMessage {
  entity: Entity;
  record: SourceRecord;
  /** Why the message could not be read; null when it is a valid event. */
  problem: string | null;
  /** The encoding its bytes turned out to be in. */
  encoding: 'utf8' | 'cp1251' | null;
}

const UTF8 = new TextDecoder('utf-8', { fatal: true });

/**
 * One Kafka message as a staging record. A valid event lands as sent ({event, occurred_at,
 * data}), keyed by its record id (a number digit for digit) under the store's name, a
 * deletion flagged. A message that is not valid UTF-8 is tried in the fallback encoding.
 * Anything that still cannot be read lands with its text in raw_text, keyed by
 * topic/partition/offset so it can never shadow a real record, and rejected unparseable; an
 * event without an id lands keyed by its content and rejected key_missing. A change time in no
 * allowed form leaves the version without one, with a warning.
 */
export function readMessage(message: KafkaMessageIn, settings: EventSettings): ReadMessage {
  const bytes = message.value ?? Buffer.alloc(0);
  let text: string | null = null;
  let encoding: ReadMessage['encoding'] = null;
  try {
    text = UTF8.decode(bytes);
    encoding = 'utf8';
  } catch {
    if (settings.fallbackEncoding) {
      text = iconv.decode(bytes, 'win1251');
      encoding = 'cp1251';
    }
  }
  const position = `${message.topic}/${message.partition}/${message.offset}`;
  const unreadable = (problem: string): ReadMessage => {
    const raw = (text ?? bytes.toString('latin1')).replaceAll('\u0000', '');
    return {
      entity: /"contact\./.test(raw) ? 'contact' : /"order\./.test(raw) ? 'order' : 'company',
      record: { sourceKey: position, updatedAt: null, isDeleted: false, payload: undefined, rawText: raw, issues: [unparseable(`Kafka message ${position}: ${problem}`)] },
      problem,
      encoding,
    };
  };
  if (message.value === null) return unreadable('empty message (tombstone)');
  if (text === null) return unreadable('not valid UTF-8');
  let event: unknown;
  try {
    event = JSON.parse(text);
  } catch (e) {
    return unreadable(`not JSON: ${(e as Error).message}`);
  }
  if (typeof event !== 'object' || event === null || Array.isArray(event)) return unreadable('not a JSON object');
  const { event: type, occurred_at: occurredAt, data } = event as { event?: unknown; occurred_at?: unknown; data?: unknown };
  if (typeof type !== 'string' || !KNOWN_TYPES.has(type)) return unreadable(`unknown event type ${JSON.stringify(type)}`);
  if (typeof data !== 'object' || data === null || Array.isArray(data)) return unreadable('event without a data object');
  const [entity, action] = type.split('.') as [Entity, string];
  const issues: LandingIssue[] = [];
  let key = eventKey(text, (data as { id?: unknown }).id);
  if (key === null) {
    issues.push(keyMissing('data.id', settings.setting, (data as { id?: unknown }).id));
    key = keylessKey(text);
  }
  const updated = (data as { updated?: unknown }).updated;
  let time: ChangeTimeValue = settings.times.read(updated);
  if (time === UNREADABLE) {
    issues.push(updatedUnparseable('data.updated', updated, settings.setting));
    time = null;
  }
  if (time === null) {
    // no readable change time in the record: the event's own time stands for it
    time = settings.times.read(occurredAt);
    if (time === UNREADABLE) {
      issues.push(updatedUnparseable('occurred_at', occurredAt, settings.setting));
      time = null;
    }
  }
  return {
    entity,
    record: {
      sourceKey: key,
      updatedAt: time,
      isDeleted: action === 'deleted',
      payload: event,
      payloadText: text,
      // the bytes as they came, unless the decoder dropped a byte order mark from the text
      payloadBytes: encoding === 'utf8' && !(bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) ? bytes : undefined,
      issues: issues.length > 0 ? issues : undefined,
    },
    problem: null,
    encoding,
  };
}

/**
 * The event's record id as text: a string as it is, a number digit for digit (read again
 * from the text when JavaScript's number cannot hold it); null when there is none.
 */
function eventKey(text: string, id: unknown): string | null {
  if (typeof id === 'string') return id.trim() === '' ? null : id;
  if (typeof id !== 'number') return null;
  if (Number.isSafeInteger(id)) return String(id);
  const exact = parseLossless(text, null, (digits: string) => digits) as { data?: { id?: unknown } };
  return typeof exact.data?.id === 'string' ? exact.data.id : null;
}
