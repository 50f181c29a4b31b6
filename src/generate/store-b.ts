import iconv from 'iconv-lite';
import { JsonArrayFile } from './json-writer.js';
import type { OrderTruth } from './orders.js';
import * as vocab from './names.js';
import { JUNK_PHONES, PhoneBook, writePhone } from './phones.js';
import type { Random } from './random.js';
import * as req from './requisites.js';

/** Expected outcome of one company record. */
export interface CompanyTruth {
  inn?: string;
  reason?: string;
  warnings?: string[];
}

/** Expected outcome of one contact record: the person it is, or why it is dropped. */
export interface ContactTruth {
  person?: number;
  inn?: string;
  reason?: string;
  warnings?: string[];
}

export interface StoreBTruth {
  companies: Record<string, CompanyTruth>;
  contacts: Record<string, ContactTruth>;
  /** Expected canonical name per INN (the most recent accepted record's, cleaned). */
  names: Record<string, string>;
  /** Per order of the orders file (filled in after the companies and contacts). */
  orders: Record<string, OrderTruth>;
}

export interface CompanyRecordInfo {
  key: string;
  entity: number;
  inn: string | null; // the accepted INN, null when rejected
  updated: number;
}

/** What store A and the events need to know about store B to overlap with it. */
export interface StoreBContext {
  phones: PhoneBook;
  usedInns: Set<string>;
  /** The newest accepted record per INN: its change time and cleaned name. */
  newest: Map<string, { updated: number; name: string }>;
  companies: CompanyRecordInfo[];
  /** People numbered so far; the next store numbers its people after them. */
  persons: number;
}

export interface StoreBOptions {
  companies: number;
  contacts: number;
  asOf: Date;
  windowStart: Date;
  companiesFile: string;
  legacyFile: string;
  contactsFile: string;
}

export const DAY = 86_400_000;

/** A day in [from, to) as an ISO timestamp at a random second. */
export function dateBetween(r: Random, from: number, to: number): number {
  return from + Math.floor(r.next() * (to - from));
}

/** Whitespace the way people type it: padded, doubled. */
export function messySpaces(r: Random, text: string): string {
  return `${r.chance(0.5) ? '  ' : ''}${text.replace(/ /g, () => (r.chance(0.3) ? '   ' : ' '))}${r.chance(0.5) ? ' \t' : ''}`;
}

/** Windows-1251 bytes read as Latin-1: what an old export does to Cyrillic. */
export function mojibake(text: string): string {
  return iconv.decode(iconv.encode(text, 'win1251'), 'latin1');
}

export const clean = (text: string) => text.replace(/\s+/g, ' ').trim();

/**
 * Store B's JSON files with realistic mess, and the truth: what the transform must make
 * of every record. Companies first (kept as small infos), then contacts pointing at them.
 */
export async function generateStoreB(r: Random, o: StoreBOptions): Promise<{ truth: StoreBTruth; context: StoreBContext }> {
  const truth: StoreBTruth = { companies: {}, contacts: {}, names: {}, orders: {} };
  const phones = new PhoneBook(r);
  const usedInns = new Set<string>();
  const records: CompanyRecordInfo[] = [];
  const byEntity = new Map<number, CompanyRecordInfo[]>();
  const main = new JsonArrayFile(o.companiesFile);
  const legacy = new JsonArrayFile(o.legacyFile, 'cp1251');
  const windowStart = o.windowStart.getTime();
  const asOf = o.asOf.getTime();
  const newest = new Map<string, { updated: number; name: string }>();

  let recordNo = 0;
  for (let entity = 1; recordNo < o.companies; entity++) {
    const isIp = r.chance(0.15);
    let inn = isIp ? req.makeInn12(r) : req.makeInn10(r);
    while (usedInns.has(inn)) inn = isIp ? req.makeInn12(r) : req.makeInn10(r);
    usedInns.add(inn);
    const person = `${r.pick(vocab.LAST_NAMES)} ${r.pick(vocab.FIRST_NAMES)} ${r.pick(vocab.MIDDLE_NAMES)}`;
    const word = `${r.pick(vocab.COMPANY_WORDS)}${r.pick(vocab.COMPANY_SUFFIXES)}-${entity}`;
    const form = r.pick(vocab.LEGAL_FORMS);
    const names = isIp ? [`ИП ${person}`, `ИП ${person.toUpperCase()}`] : [`${form} «${word}»`, `${form} "${word}"`];
    const bik = req.makeBik(r);
    const base = {
      kpp: isIp ? undefined : req.makeKpp(r, inn),
      ogrn: isIp ? req.makeOgrnip(r) : req.makeOgrn(r),
      address: `${r.int(101000, 692999)}, ${r.pick(vocab.CITIES)}, ${r.pick(vocab.STREETS)}, д. ${r.int(1, 120)}`,
      bank: { bik, account: req.makeAccount(r, bik), corr_account: req.makeCorrAccount(bik), name: r.pick(['ПАО Сбербанк', 'АО «Альфа-Банк»', 'Банк ВТБ (ПАО)', 'АО «Тинькофф Банк»']) },
    };

    const roll = r.next();
    const reason =
      roll < 0.02 ? 'inn_missing' : roll < 0.03 ? 'inn_malformed' : roll < 0.06 ? 'inn_checksum' :
      roll < 0.07 ? 'inn_letters' : roll < 0.10 ? 'out_of_window' : null;
    const copies = reason === null && r.chance(0.04) ? 2 : 1;

    for (let copy = 0; copy < copies && recordNo < o.companies; copy++) {
      recordNo += 1;
      const key = `B-${recordNo}`;
      const warnings: string[] = [];
      const updated = reason === 'out_of_window'
        ? dateBetween(r, windowStart - 3 * 365 * DAY, windowStart - DAY)
        : dateBetween(r, windowStart + DAY, asOf);
      const created = updated - r.int(0, 400) * DAY;
      let innText: string | undefined = inn;
      if (reason === 'inn_missing') innText = r.pick([undefined, '', '   ']);
      else if (reason === 'inn_malformed') innText = r.chance(0.5) ? inn.slice(0, -1) : inn + '1';
      else if (reason === 'inn_checksum') innText = req.breakChecksum(inn);
      else if (reason === 'inn_letters') innText = r.chance(0.5) ? inn.replace('0', 'O') + (inn.includes('0') ? '' : 'O') : `ИНН ${inn}`;
      else if (copy === 1 || r.chance(0.05)) innText = `${inn.slice(0, 4)} ${inn.slice(4)}`;

      let name = names[copy]!;
      const company: Record<string, unknown> = { id: key };
      if (innText !== undefined) company.inn = innText;
      let kpp = base.kpp;
      let ogrn = base.ogrn;
      const bank = { ...base.bank };
      if (reason === null) {
        if (kpp && r.chance(0.02)) { kpp = kpp.slice(0, 8); warnings.push('kpp_malformed'); }
        if (r.chance(0.02)) { ogrn = req.breakOgrn(ogrn); warnings.push('ogrn_checksum'); }
        if (r.chance(0.02)) { bank.account = req.breakAccount(bank.account); warnings.push('bank_account_checksum'); }
      }
      if (kpp) company.kpp = kpp;
      company.ogrn = ogrn;
      const inLegacy = r.chance(0.06);
      const garbled = !inLegacy && r.chance(0.03);
      if (r.chance(0.1)) name = messySpaces(r, name);
      company.title = garbled ? mojibake(name) : name;
      company.address = r.chance(0.1) ? messySpaces(r, base.address) : base.address;
      const companyPhones = [writePhone(r, phones.landline())];
      if (reason === null && r.chance(0.03)) { companyPhones.push(r.pick(JUNK_PHONES)); warnings.push('phone_invalid'); }
      company.phones = companyPhones;
      company.emails = [`info@${vocab.translit(word) || 'company'}.ru`];
      company.bank = bank;
      company.created = new Date(created).toISOString();
      company.updated = new Date(updated).toISOString();
      await (inLegacy ? legacy : main).add(company);

      const accepted = reason === null;
      truth.companies[key] = accepted ? { inn, ...(warnings.length ? { warnings } : {}) } : { reason: reason === 'inn_letters' ? 'inn_malformed' : reason };
      const info: CompanyRecordInfo = { key, entity, inn: accepted ? inn : null, updated };
      records.push(info);
      byEntity.set(entity, [...(byEntity.get(entity) ?? []), info]);
      if (accepted) {
        const seen = newest.get(inn);
        if (!seen || updated > seen.updated) newest.set(inn, { updated, name: clean(name) });
      }
    }
  }
  await main.close();
  await legacy.close();
  for (const [inn, { name }] of newest) truth.names[inn] = name;

  const persons = await generateContacts(r, o, records, byEntity, phones, truth);
  return { truth, context: { phones, usedInns, newest, companies: records, persons } };
}

async function generateContacts(
  r: Random,
  o: StoreBOptions,
  companies: CompanyRecordInfo[],
  byEntity: Map<number, CompanyRecordInfo[]>,
  phones: PhoneBook,
  truth: StoreBTruth,
): Promise<number> {
  const file = new JsonArrayFile(o.contactsFile, 'utf8', { key: 'contacts', header: { exported_at: o.asOf.toISOString() } });
  const average = o.contacts / Math.max(companies.length, 1) / 1.04;
  let recordNo = 0;
  let person = 0;
  const asOf = o.asOf.getTime();
  const emit = async (contact: Record<string, unknown>, outcome: ContactTruth) => {
    recordNo += 1;
    const key = `BC-${recordNo}`;
    await file.add({ id: key, ...contact });
    truth.contacts[key] = outcome;
  };

  for (let pass = 0; recordNo < o.contacts && companies.length > 0; pass++) {
    for (const company of companies) {
      if (recordNo >= o.contacts) break;
      const count = r.int(0, Math.max(1, Math.round(2 * average)));
      for (let n = 0; n < count && recordNo < o.contacts; n++) {
        person += 1;
        const missing = r.chance(0.01);
        const companyKey = missing ? `B-X${person}` : company.key;
        const female = r.chance(0.4);
        const last = female ? vocab.feminine(r.pick(vocab.LAST_NAMES)) : r.pick(vocab.LAST_NAMES);
        const first = r.pick(female ? vocab.FEMALE_FIRST_NAMES : vocab.FIRST_NAMES);
        const middle = r.pick(female ? vocab.FEMALE_MIDDLE_NAMES : vocab.MIDDLE_NAMES);
        const warnings: string[] = [];
        const mobile = r.chance(0.9) ? phones.mobile() : null;
        const office = r.chance(0.2) ? phones.landline() : null;
        const extension = office ? String(r.int(10, 999)) : undefined;
        const junk = r.chance(0.03) ? r.pick(JUNK_PHONES) : null;
        const rawPhones: string[] = [];
        if (mobile) rawPhones.push(writePhone(r, mobile));
        if (office) rawPhones.push(writePhone(r, office, extension));
        if (junk) { rawPhones.push(junk); warnings.push('phone_invalid'); }
        let email: string | undefined;
        let emailValid = false;
        if (r.chance(0.7)) {
          const local = `${vocab.translit(last)}.${vocab.translit(first).slice(0, 1)}${person}`;
          const roll = r.next();
          if (roll < 0.02) { email = `${local}.mail.ru`; warnings.push('email_invalid'); }
          else if (roll < 0.12) { email = `${local}@Mail.RU `.replace(local, local.toUpperCase()); emailValid = true; }
          else { email = `${local}@${r.pick(['mail.ru', 'yandex.ru', 'gmail.com', 'bk.ru'])}`; emailValid = true; }
        }
        const asString = r.chance(0.1);
        const name = asString ? messySpaces(r, `${last} ${first} ${middle}`) : { last, first, middle };
        const updated = new Date(asOf - r.int(1, 600) * DAY).toISOString();
        const position = r.pick(vocab.POSITIONS);
        const outcome: ContactTruth = missing
          ? { reason: 'company_missing' }
          : company.inn === null
            ? { reason: 'company_rejected' }
            : { person, inn: company.inn, ...(warnings.length ? { warnings } : {}) };
        const contact: Record<string, unknown> = { company_id: companyKey, name, position, phones: rawPhones, updated };
        if (email !== undefined) contact.email = email;
        await emit(contact, outcome);

        // The same person again under another id: other phone spelling, via a sibling record.
        const link = mobile ? 'phone' : emailValid ? 'email' : null;
        if (link && r.chance(0.05) && recordNo < o.contacts) {
          const siblings = missing ? [company] : byEntity.get(company.entity) ?? [company];
          const sibling = r.pick(siblings);
          const again: Record<string, unknown> = {
            company_id: missing ? companyKey : sibling.key,
            name: r.chance(0.5) ? `${last} ${first} ${middle}` : { last, first, middle },
            position,
            phones: link === 'phone' ? [writePhone(r, mobile!)] : [],
            updated: new Date(asOf - r.int(1, 600) * DAY).toISOString(),
          };
          if (link === 'email') again.email = email!.trim().toLowerCase();
          const againOutcome: ContactTruth = missing
            ? { reason: 'company_missing' }
            : sibling.inn === null
              ? { reason: 'company_rejected' }
              : { person, inn: sibling.inn };
          await emit(again, againOutcome);
        }
      }
    }
  }
  await file.close();
  return person;
}
