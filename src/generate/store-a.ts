import { createWriteStream, type WriteStream } from 'node:fs';
import { once } from 'node:events';
import iconv from 'iconv-lite';
import * as vocab from './names.js';
import { JUNK_PHONES, writePhone } from './phones.js';
import type { Random } from './random.js';
import * as req from './requisites.js';
import { contactsByInn, generateOrders, type OrderTruth } from './orders.js';
import { clean, dateBetween, DAY, messySpaces, type CompanyTruth, type ContactTruth, type StoreBContext } from './store-b.js';

export interface StoreATruth {
  companies: Record<string, CompanyTruth>;
  contacts: Record<string, ContactTruth>;
  orders: Record<string, OrderTruth>;
}

export interface StoreAOptions {
  companies: number;
  contacts: number;
  asOf: Date;
  windowStart: Date;
  file: string;
  /** Share of store A companies that store B also has (same INN). */
  overlap?: number;
  /** Draws the orders (a stream of its own: the companies and contacts do not depend on it). */
  orders: Random;
}

/** The store A schema as the replica has it: latin1 text columns holding Windows-1251 bytes. */
export const STORE_A_SCHEMA = `CREATE TABLE companies (
  id int NOT NULL PRIMARY KEY,
  inn varchar(12) NULL,
  kpp varchar(9) NULL,
  ogrn varchar(15) NULL,
  name varchar(255) NULL,
  legal_address text NULL,
  phone varchar(64) NULL,
  email varchar(255) NULL,
  bank_bik varchar(9) NULL,
  bank_account varchar(20) NULL,
  bank_corr_account varchar(20) NULL,
  bank_name varchar(255) NULL,
  created_at datetime NOT NULL,
  updated_at datetime NOT NULL,
  KEY companies_updated (updated_at, id)
) ENGINE=InnoDB DEFAULT CHARSET=latin1;

CREATE TABLE contacts (
  id int NOT NULL PRIMARY KEY,
  company_id int NULL,
  fio varchar(255) NULL,
  position varchar(255) NULL,
  phone varchar(64) NULL,
  email varchar(255) NULL,
  created_at datetime NOT NULL,
  updated_at datetime NOT NULL,
  KEY contacts_updated (updated_at, id)
) ENGINE=InnoDB DEFAULT CHARSET=latin1;

CREATE TABLE orders (
  id int NOT NULL PRIMARY KEY,
  company_id int NULL,
  contact_id int NULL,
  number varchar(32) NULL,
  status varchar(32) NULL,
  total decimal(14,2) NULL,
  currency varchar(3) NULL,
  created_at datetime NOT NULL,
  updated_at datetime NOT NULL,
  KEY orders_updated (updated_at, id)
) ENGINE=InnoDB DEFAULT CHARSET=latin1;

CREATE TABLE order_items (
  id int NOT NULL PRIMARY KEY,
  order_id int NOT NULL,
  sku varchar(32) NULL,
  name varchar(255) NULL,
  quantity decimal(12,3) NOT NULL,
  price decimal(14,2) NOT NULL,
  updated_at datetime NOT NULL,
  KEY order_items_order (order_id),
  KEY order_items_updated (updated_at, order_id)
) ENGINE=InnoDB DEFAULT CHARSET=latin1;
`;

/** A MySQL datetime as store A writes it (UTC, whole seconds). */
export function mysqlDatetime(ms: number): string {
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().slice(0, 19).replace('T', ' ');
}

/** A value as a MySQL literal. */
export function sqlLiteral(value: string | number | null | undefined): string {
  if (value === null || value === undefined) return 'NULL';
  if (typeof value === 'number') return String(value);
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'").replace(/\n/g, '\\n').replace(/\r/g, '\\r').replace(/\0/g, '\\0')}'`;
}

/** A MySQL dump written as it goes, in Windows-1251 bytes, multi-row INSERTs. */
class DumpWriter {
  private readonly out: WriteStream;
  private rows: string[] = [];
  private table = '';

  constructor(path: string) {
    this.out = createWriteStream(path);
  }

  async raw(text: string): Promise<void> {
    await this.flushRows();
    await this.write(text);
  }

  async row(table: string, values: Array<string | number | null | undefined>): Promise<void> {
    if (table !== this.table) await this.flushRows();
    this.table = table;
    this.rows.push(`(${values.map(sqlLiteral).join(',')})`);
    if (this.rows.length >= 500) await this.flushRows();
  }

  async close(): Promise<void> {
    await this.flushRows();
    this.out.end();
    await once(this.out, 'finish');
  }

  private async flushRows(): Promise<void> {
    if (this.rows.length === 0) return;
    const statement = `INSERT INTO ${this.table} VALUES\n${this.rows.join(',\n')};\n`;
    this.rows = [];
    await this.write(statement);
  }

  private async write(text: string): Promise<void> {
    if (!this.out.write(iconv.encode(text, 'win1251'))) await once(this.out, 'drain');
  }
}

interface AcceptedCompany {
  id: number;
  inn: string;
}

/**
 * Store A's replica as a MySQL dump (`mysql DB < store_a.sql`), with the truth. Many of its
 * companies are store B's too (same INN, its own spelling and dates); its contacts are
 * other people, with "Фамилия Имя Отчество" in one field. The dump is Windows-1251 bytes
 * loaded through a latin1 connection, so the latin1 columns hold cp1251 as in the real shop.
 */
export async function generateStoreA(r: Random, o: StoreAOptions, storeB: StoreBContext): Promise<StoreATruth> {
  const truth: StoreATruth = { companies: {}, contacts: {}, orders: {} };
  const dump = new DumpWriter(o.file);
  await dump.raw(`-- Store A replica sample: companies and contacts (Windows-1251 bytes in latin1 columns).\n` +
    `SET NAMES latin1;\nSET foreign_key_checks = 0;\nDROP TABLE IF EXISTS order_items;\nDROP TABLE IF EXISTS orders;\nDROP TABLE IF EXISTS contacts;\nDROP TABLE IF EXISTS companies;\n\n${STORE_A_SCHEMA}\n`);
  const windowStart = o.windowStart.getTime();
  const asOf = o.asOf.getTime();
  const shared = [...storeB.newest.keys()];
  const overlap = o.overlap ?? 0.55;
  const accepted: AcceptedCompany[] = [];
  const takenShared = new Set<string>();

  for (let id = 1; id <= o.companies; id++) {
    const roll = r.next();
    const reason =
      roll < 0.02 ? 'inn_missing' : roll < 0.03 ? 'inn_malformed' : roll < 0.05 ? 'inn_checksum' :
      roll < 0.08 ? 'out_of_window' : null;
    let inn: string;
    let name: string;
    const sharedInn = shared.length > 0 && r.chance(overlap) ? shared[r.int(0, shared.length - 1)]! : null;
    if (sharedInn && !takenShared.has(sharedInn)) {
      takenShared.add(sharedInn);
      inn = sharedInn;
      const known = storeB.newest.get(inn)!.name;
      name = r.chance(0.3) ? known.toUpperCase() : known;
    } else {
      const isIp = r.chance(0.15);
      do inn = isIp ? req.makeInn12(r) : req.makeInn10(r);
      while (storeB.usedInns.has(inn));
      storeB.usedInns.add(inn);
      const word = `${r.pick(vocab.COMPANY_WORDS)}${r.pick(vocab.COMPANY_SUFFIXES)}-A${id}`;
      name = isIp
        ? `ИП ${r.pick(vocab.LAST_NAMES)} ${r.pick(vocab.FIRST_NAMES)} ${r.pick(vocab.MIDDLE_NAMES)}`
        : `${r.pick(vocab.LEGAL_FORMS)} «${word}»`;
    }
    const isIp = inn.length === 12;
    const updated = reason === 'out_of_window'
      ? dateBetween(r, windowStart - 3 * 365 * DAY, windowStart - DAY)
      : dateBetween(r, windowStart + DAY, asOf);
    const created = updated - r.int(0, 400) * DAY;
    let innText: string | null = inn;
    if (reason === 'inn_missing') innText = r.pick([null, '', ' ']);
    else if (reason === 'inn_malformed') innText = inn.slice(0, -1);
    else if (reason === 'inn_checksum') innText = req.breakChecksum(inn);
    const warnings: string[] = [];
    let kpp = isIp ? null : req.makeKpp(r, inn);
    if (kpp && reason === null && r.chance(0.02)) { kpp = kpp.slice(0, 8); warnings.push('kpp_malformed'); }
    const bik = req.makeBik(r);
    let phone = writePhone(r, storeB.phones.landline());
    if (reason === null && r.chance(0.02)) { phone = r.pick(JUNK_PHONES); warnings.push('phone_invalid'); }
    const written = r.chance(0.1) ? messySpaces(r, name) : name;
    await dump.row('companies', [
      id, innText, kpp, isIp ? req.makeOgrnip(r) : req.makeOgrn(r), written,
      `${r.int(101000, 692999)}, ${r.pick(vocab.CITIES)}, ${r.pick(vocab.STREETS)}, д. ${r.int(1, 120)}`,
      phone, r.chance(0.8) ? `office${id}@${r.pick(['mail.ru', 'yandex.ru', 'company.ru'])}` : null,
      bik, req.makeAccount(r, bik), req.makeCorrAccount(bik), r.pick(['ПАО Сбербанк', 'Банк ВТБ (ПАО)', 'АО «Райффайзенбанк»']),
      mysqlDatetime(created), mysqlDatetime(updated),
    ]);
    const key = String(id);
    if (reason === null) {
      truth.companies[key] = { inn, ...(warnings.length ? { warnings } : {}) };
      accepted.push({ id, inn });
      const seen = storeB.newest.get(inn);
      if (!seen || updated > seen.updated) storeB.newest.set(inn, { updated, name: clean(written) });
    } else {
      truth.companies[key] = { reason };
    }
  }

  let person = storeB.persons;
  const rejected = new Set(Object.entries(truth.companies).filter(([, t]) => !t.inn).map(([k]) => Number(k)));
  for (let id = 1; id <= o.contacts; id++) {
    person += 1;
    const missing = r.chance(0.01);
    const companyId = missing ? o.companies + id : r.int(1, o.companies);
    const company = missing ? null : companyId;
    const female = r.chance(0.4);
    const last = female ? vocab.feminine(r.pick(vocab.LAST_NAMES)) : r.pick(vocab.LAST_NAMES);
    const first = r.pick(female ? vocab.FEMALE_FIRST_NAMES : vocab.FIRST_NAMES);
    const middle = r.pick(female ? vocab.FEMALE_MIDDLE_NAMES : vocab.MIDDLE_NAMES);
    const mobile = storeB.phones.mobile();
    const updated = asOf - r.int(1, 600) * DAY;
    const outcome: ContactTruth = company === null
      ? { reason: 'company_missing' }
      : rejected.has(company)
        ? { reason: 'company_rejected' }
        : { person, inn: truth.companies[String(company)]!.inn! };
    const fio = r.chance(0.1) ? messySpaces(r, `${last} ${first} ${middle}`) : `${last} ${first} ${middle}`;
    const email = r.chance(0.6) ? `a${person}.${vocab.translit(last)}@mail.ru` : null;
    await dump.row('contacts', [
      id, companyId, fio, r.pick(vocab.POSITIONS), writePhone(r, mobile), email,
      mysqlDatetime(updated - r.int(0, 300) * DAY), mysqlDatetime(updated),
    ]);
    truth.contacts[String(id)] = outcome;
    // The same person entered twice in store A: same mobile, written another way.
    if (r.chance(0.03) && id < o.contacts) {
      id += 1;
      await dump.row('contacts', [
        id, companyId, `${last} ${first}`, r.pick(vocab.POSITIONS), writePhone(r, mobile), null,
        mysqlDatetime(updated - DAY), mysqlDatetime(updated - r.int(0, 30) * DAY),
      ]);
      truth.contacts[String(id)] = outcome;
    }
  }
  truth.orders = await writeStoreAOrders(o, truth, dump);
  await dump.close();
  return truth;
}

/** Store A's orders and their items, in the dump after the contacts; an item is changed with its order. */
async function writeStoreAOrders(o: StoreAOptions, truth: StoreATruth, dump: DumpWriter): Promise<Record<string, OrderTruth>> {
  const companies = Object.entries(truth.companies).map(([key, c]) => ({ key, inn: c.inn ?? null }));
  let itemId = 0;
  const r = o.orders;
  return generateOrders(r, {
    store: 'store_a', asOf: o.asOf, windowStart: o.windowStart, companies, contactsByInn: contactsByInn(truth.contacts),
    missingCompanyKey: (n) => String(o.companies + 100_000 + n),
  }, async (order) => {
    await dump.row('orders', [
      Number(order.key), Number(order.companyKey), order.contactKey === null ? null : Number(order.contactKey), order.number, order.status,
      order.total, order.currency, mysqlDatetime(order.created), mysqlDatetime(order.updated),
    ]);
    for (const item of order.items) {
      itemId += 1;
      await dump.row('order_items', [itemId, Number(order.key), item.sku, item.name, String(item.quantity), item.price, mysqlDatetime(order.updated)]);
    }
  });
}
