import { createWriteStream, readFileSync } from 'node:fs';
import { once } from 'node:events';
import iconv from 'iconv-lite';
import * as vocab from './names.js';
import { writePhone } from './phones.js';
import type { Random } from './random.js';
import * as req from './requisites.js';
import { orderEvents, type OrderEventsOptions, type OrderTruth } from './orders.js';
import { clean, messySpaces, type StoreBContext, type StoreBTruth } from './store-b.js';

/** What store B's live changes must leave behind, per record key, after every event. */
export interface EventsTruth {
  messages: number;
  /** Messages that are not JSON, have an unknown event type, or lack their data. */
  unparseable: number;
  /** Messages sent in Windows-1251 instead of UTF-8 (still valid events). */
  cp1251: number;
  companies: Record<string, { name: string; inn: string } | { deleted: true }>;
  /** Expected canonical name per INN an event renamed: the newest upsert still standing. */
  names: Record<string, string>;
  contacts: Record<string, { inn: string; person: number } | { deleted: true }>;
  /** The orders the order events touched, as they stand after the last event (files first, then events). */
  orders: Record<string, OrderTruth>;
}

export interface EventsOptions {
  messages: number;
  asOf: Date;
  file: string;
  /** Order events, after the company and contact events. */
  orders: OrderEventsOptions;
}

/**
 * The event types store B documents (test/fixtures/store_b/): written out here, not taken
 * from the consumer, so the tests can hold each side against the store's description.
 */
type StoreBEvent = 'company.upserted' | 'company.deleted' | 'contact.upserted' | 'contact.deleted' | 'order.upserted' | 'order.deleted';

const MALFORMED = [
  (id: string) => `{"event":"company.upserted","occurred_at":"2026-11-02T10:00:00Z","data":{"id":"${id}","title":"ООО Обрыв`,
  () => 'not json at all',
  (id: string) => `{"event":"company.archived","occurred_at":"2026-11-02T10:00:00Z","data":{"id":"${id}"}}`,
  (id: string) => `{"event":"contact.upserted","occurred_at":"2026-11-02T10:00:00Z","data":"${id}"}`,
];

/**
 * Store B's Kafka events as NDJSON, one message value a line (the message key is the
 * record's id): renamed and new companies, deletions, new and deleted contacts. Some
 * lines are Windows-1251 bytes, some are malformed. Starts one second after the as-of
 * day's export and goes on a second apart, so every event is newer than the files.
 */
export async function generateEvents(r: Random, o: EventsOptions, storeB: StoreBContext, truthB: StoreBTruth): Promise<EventsTruth> {
  const truth: EventsTruth = { messages: 0, unparseable: 0, cp1251: 0, companies: {}, contacts: {}, names: {}, orders: {} };
  const upserts: Array<{ key: string; inn: string; name: string }> = [];
  const out = createWriteStream(o.file);
  const chunks: Buffer[] = [];
  let size = 0;
  const acceptedCompanies = storeB.companies.filter((c) => c.inn !== null);
  const contactKeys = Object.keys(truthB.contacts);
  const start = o.asOf.getTime() + 1000;
  let person = storeB.persons + 5_000_000;
  let created = 0;
  const write = async (line: string, bad: boolean) => {
    // only a line with Cyrillic in it is different bytes in cp1251
    const asCp1251 = !bad && r.chance(0.03) && /[^\x00-\x7f]/.test(line);
    const bytes = asCp1251 ? iconv.encode(line + '\n', 'win1251') : Buffer.from(line + '\n', 'utf8');
    truth.messages += 1;
    if (bad) truth.unparseable += 1;
    if (asCp1251) truth.cp1251 += 1;
    chunks.push(bytes);
    size += bytes.length;
    if (size > 1 << 20) {
      if (!out.write(Buffer.concat(chunks))) await once(out, 'drain');
      chunks.length = 0;
      size = 0;
    }
  };

  for (let n = 0; n < o.messages; n++) {
    const occurredAt = new Date(start + n * 1000).toISOString();
    const roll = r.next();
    let line: string;
    let bad = false;
    if (roll < 0.02) {
      line = r.pick(MALFORMED)(r.pick(acceptedCompanies).key);
      bad = true;
    } else if (roll < 0.45) {
      const company = r.pick(acceptedCompanies);
      const title = `ООО «${r.pick(vocab.COMPANY_WORDS)} ${r.pick(['Новый', 'Север', 'Юг', 'Центр'])} ${n}»`;
      line = event('company.upserted', occurredAt, companyData(r, company.key, company.inn!, title, occurredAt, storeB));
      truth.companies[company.key] = { name: clean(title), inn: company.inn! };
      upserts.push({ key: company.key, inn: company.inn!, name: clean(title) });
    } else if (roll < 0.55) {
      created += 1;
      const key = `B-E${created}`;
      let inn = req.makeInn10(r);
      while (storeB.usedInns.has(inn)) inn = req.makeInn10(r);
      storeB.usedInns.add(inn);
      const title = `АО «${r.pick(vocab.COMPANY_WORDS)}-Е${created}»`;
      line = event('company.upserted', occurredAt, companyData(r, key, inn, title, occurredAt, storeB));
      truth.companies[key] = { name: clean(title), inn };
      upserts.push({ key, inn, name: clean(title) });
      acceptedCompanies.push({ key, entity: -created, inn, updated: start + n * 1000 });
    } else if (roll < 0.6) {
      const company = r.pick(acceptedCompanies);
      line = event('company.deleted', occurredAt, { id: company.key });
      truth.companies[company.key] = { deleted: true };
    } else if (roll < 0.9) {
      const company = r.pick(acceptedCompanies);
      person += 1;
      const key = `BE-C${person}`;
      const last = r.pick(vocab.LAST_NAMES);
      const first = r.pick(vocab.FIRST_NAMES);
      line = event('contact.upserted', occurredAt, {
        id: key, company_id: company.key, name: { last, first, middle: r.pick(vocab.MIDDLE_NAMES) },
        position: r.pick(vocab.POSITIONS), phones: [writePhone(r, storeB.phones.mobile())],
        email: `e${person}.${vocab.translit(last)}@yandex.ru`, updated: occurredAt,
      });
      truth.contacts[key] = { inn: company.inn!, person };
    } else {
      const key = r.pick(contactKeys);
      line = event('contact.deleted', occurredAt, { id: key });
      truth.contacts[key] = { deleted: true };
    }
    await write(line, bad);
  }
  // the orders' events come after the others: they name companies as the events left them
  const standing = acceptedCompanies.filter((c) => !(truth.companies[c.key] && 'deleted' in truth.companies[c.key]!)).map((c) => ({ key: c.key, inn: c.inn! }));
  const contactGone = (key: string) => { const c = truth.contacts[key]; return c !== undefined && 'deleted' in c; };
  truth.orders = await orderEvents(o.orders, standing, start + o.messages * 1000, contactGone, (line) => write(line, false), event);
  out.end(Buffer.concat(chunks));
  await once(out, 'finish');
  // every event is newer than the files, so an INN is named by its last upsert whose
  // record was not deleted or renamed again afterwards
  for (let i = upserts.length - 1; i >= 0; i--) {
    const { key, inn, name } = upserts[i]!;
    const final = truth.companies[key];
    if (!(inn in truth.names) && final && 'name' in final && final.name === name) truth.names[inn] = name;
  }
  // Deleting a company record does not delete its contacts' records; a deleted record of
  // a company that is in the events again later is overwritten above.
  return truth;
}

function event(type: StoreBEvent, occurredAt: string, data: Record<string, unknown>): string {
  return JSON.stringify({ event: type, occurred_at: occurredAt, data });
}

function companyData(r: Random, key: string, inn: string, title: string, at: string, storeB: StoreBContext): Record<string, unknown> {
  const bik = req.makeBik(r);
  return {
    id: key,
    inn,
    ogrn: req.makeOgrn(r),
    title: r.chance(0.1) ? messySpaces(r, title) : title,
    address: `${r.int(101000, 692999)}, ${r.pick(vocab.CITIES)}, ${r.pick(vocab.STREETS)}, д. ${r.int(1, 120)}`,
    phones: [writePhone(r, storeB.phones.landline())],
    emails: [`hello@${vocab.translit(title).slice(0, 12) || 'company'}.ru`],
    bank: { bik, account: req.makeAccount(r, bik), corr_account: req.makeCorrAccount(bik), name: 'ПАО Сбербанк' },
    updated: at,
  };
}

/** The message key of an event line: its record id, when one can be found in it. */
export function eventKey(line: string): string | null {
  return /"id":"([^"]+)"/.exec(line)?.[1] ?? /"data":"([^"]+)"/.exec(line)?.[1] ?? null;
}

/** The lines of a generated events file as raw bytes: the message values (some cp1251, some malformed). */
export function readEventLines(path: string): Buffer[] {
  const bytes = readFileSync(path);
  const lines: Buffer[] = [];
  let start = 0;
  for (let i = bytes.indexOf(10); i !== -1; i = bytes.indexOf(10, start)) {
    if (i > start) lines.push(bytes.subarray(start, i));
    start = i + 1;
  }
  if (start < bytes.length) lines.push(bytes.subarray(start));
  return lines;
}
