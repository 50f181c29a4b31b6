import iconv from 'iconv-lite';
import { toTimestamp, type Entity, type SourceRecord } from '../land/record.js';

/** The event types store B sends; anything else is landed as unparseable. */
export const EVENT_TYPES = ['company.upserted', 'company.deleted', 'contact.upserted', 'contact.deleted'] as const;
export type EventType = (typeof EVENT_TYPES)[number];
const KNOWN_TYPES: ReadonlySet<string> = new Set(EVENT_TYPES);

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
 * data}), keyed by its record id under the store's name, a deletion flagged. A message
 * that is not valid UTF-8 is tried in the fallback encoding. Anything that still cannot be
 * read lands with its text in raw_text, keyed by topic/partition/offset so it can never
 * shadow a real record; the transform rejects it as unparseable.
 */
export function readMessage(message: KafkaMessageIn, fallback: 'cp1251' | null): ReadMessage {
  const bytes = message.value ?? Buffer.alloc(0);
  let text: string | null = null;
  let encoding: ReadMessage['encoding'] = null;
  try {
    text = UTF8.decode(bytes);
    encoding = 'utf8';
  } catch {
    if (fallback) {
      text = iconv.decode(bytes, 'win1251');
      encoding = 'cp1251';
    }
  }
  const position = `${message.topic}/${message.partition}/${message.offset}`;
  const unreadable = (problem: string): ReadMessage => {
    const raw = (text ?? bytes.toString('latin1')).replaceAll('\u0000', '');
    return {
      entity: /"contact\./.test(raw) ? 'contact' : 'company',
      record: { sourceKey: position, updatedAt: null, isDeleted: false, payload: undefined, rawText: raw },
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
  const id = (data as { id?: unknown }).id;
  if ((typeof id !== 'string' && typeof id !== 'number') || String(id).trim() === '') return unreadable('event data without an id');
  const [entity, action] = type.split('.') as [Entity, string];
  return {
    entity,
    record: {
      sourceKey: String(id),
      updatedAt: toTimestamp((data as { updated?: unknown }).updated) ?? toTimestamp(occurredAt),
      isDeleted: action === 'deleted',
      payload: event,
      payloadText: text,
    },
    problem: null,
    encoding,
  };
}
