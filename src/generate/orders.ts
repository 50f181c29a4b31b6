import { JsonArrayFile } from './json-writer.js';
import type { Random } from './random.js';
import { DAY } from './store-b.js';

/**
 * What the transform must make of one source order: a deal of the company with this INN
 * (and of this source contact, when it names an accepted one of that company), or the
 * reason it is rejected; or gone (deleted at the source).
 */
export interface OrderTruth {
  reason?: 'company_rejected' | 'company_missing' | 'out_of_window' | 'stage_unmapped';
  inn?: string;
  /** The source contact (same source) the deal is linked to; null: none. */
  contact?: string | null;
  stage?: string;
  outcome?: 'open' | 'won' | 'lost';
  /** The order's total as billed, two decimals. */
  amount?: string;
  currency?: string;
  /** The order's creation time (ISO, UTC). */
  created?: string;
  items?: number;
  /** total_mismatch: the total is not the sum of the items (the order is kept). */
  warnings?: string[];
  deleted?: true;
}

/**
 * The order statuses each store sends, and the Bitrix24 deal stage (default pipeline) each
 * one means: the stages a sales manager sees. Written out here, apart from the mapping the
 * migration seeds (etl.deal_stage_map), so a test holds the two against each other.
 * One status of each store is not in the mapping: its orders are rejected stage_unmapped.
 */
export const STATUSES: Record<'store_a' | 'store_b', Array<{ status: string; weight: number; stage: string | null; outcome: 'open' | 'won' | 'lost' }>> = {
  store_a: [
    { status: 'new', weight: 5, stage: 'NEW', outcome: 'open' },
    { status: 'processing', weight: 10, stage: 'EXECUTING', outcome: 'open' },
    { status: 'shipped', weight: 10, stage: 'FINAL_INVOICE', outcome: 'open' },
    { status: 'completed', weight: 55, stage: 'WON', outcome: 'won' },
    { status: 'cancelled', weight: 12, stage: 'LOSE', outcome: 'lost' },
    { status: 'returned', weight: 5, stage: 'APOLOGY', outcome: 'lost' },
    { status: 'archived_1c', weight: 3, stage: null, outcome: 'open' },
  ],
  store_b: [
    { status: 'created', weight: 10, stage: 'NEW', outcome: 'open' },
    { status: 'paid', weight: 15, stage: 'EXECUTING', outcome: 'open' },
    { status: 'delivered', weight: 60, stage: 'WON', outcome: 'won' },
    { status: 'canceled', weight: 12, stage: 'LOSE', outcome: 'lost' },
    { status: 'on_review', weight: 3, stage: null, outcome: 'open' },
  ],
};

const PRODUCTS = [
  'Бумага офисная А4, 500 л.', 'Картридж лазерный', 'Стул офисный', 'Стол письменный', 'Ноутбук 15,6"',
  'Монитор 27"', 'Кабель витая пара, 305 м', 'Перчатки нитриловые, уп.', 'Краска фасадная, 10 л', 'Саморезы 4,2×75, 1000 шт.',
  'Кофе зерновой, 1 кг', 'Вода питьевая, 19 л', 'Огнетушитель ОП-4', 'Светильник LED 36 Вт', 'Папка-регистратор',
];

/** A company an order may name: its key in the store, and its INN when its record is accepted (null: rejected). */
export interface OrderCompany {
  key: string;
  inn: string | null;
}

export interface OrderOptions {
  store: 'store_a' | 'store_b';
  asOf: Date;
  windowStart: Date;
  companies: OrderCompany[];
  /** The store's accepted contacts per INN: an order names one of its company's people. */
  contactsByInn: Map<string, string[]>;
  /** A key no company of the store has (an order of a company that never existed). */
  missingCompanyKey: (n: number) => string;
}

/** One generated order, in the store's neutral shape; each store writes it its own way. */
export interface GeneratedOrder {
  key: string;
  number: string;
  companyKey: string;
  contactKey: string | null;
  status: string;
  total: string;
  currency: string;
  created: number;
  updated: number;
  items: Array<{ sku: string; name: string; quantity: number; price: string }>;
}

/**
 * Orders of a store's companies: about three a company with a long tail of big customers
 * (a few hundred orders), over three years before the load window and the window itself,
 * each with one to five items. Messy the way a shop's orders are: a total that is not the
 * sum of its items (a discount), a company rejected or never landed, a status the mapping
 * does not know, currencies other than RUB written several ways. Calls `write` per order in
 * key order; returns the truth per order key.
 */
export async function generateOrders(
  r: Random,
  o: OrderOptions,
  write: (order: GeneratedOrder) => Promise<void>,
): Promise<Record<string, OrderTruth>> {
  const truth: Record<string, OrderTruth> = {};
  const windowStart = o.windowStart.getTime();
  const asOf = o.asOf.getTime();
  let n = 0;
  let missing = 0;
  for (const company of o.companies) {
    // 0, 1, 2 ... orders, a Pareto tail: the mean is about three
    const count = Math.min(400, Math.floor(1.6 * Math.pow(1 - r.next(), -0.55)) - (r.chance(0.15) ? 1 : 0));
    for (let i = 0; i < count; i++) {
      n += 1;
      const roll = r.next();
      const kind = roll < 0.01 ? 'company_missing' : roll < 0.22 ? 'out_of_window' : 'in_window';
      const companyKey = kind === 'company_missing' ? o.missingCompanyKey(++missing) : company.key;
      const created = kind === 'out_of_window'
        ? windowStart - r.int(1, 3 * 365) * DAY + r.int(0, DAY / 1000 - 1) * 1000
        : windowStart + Math.floor(r.next() * (asOf - windowStart - DAY));
      const updated = Math.min(created + r.int(0, 30) * DAY + r.int(0, 3600) * 1000, asOf - 1000);
      const status = pickWeighted(r, STATUSES[o.store]);
      const items = Array.from({ length: r.int(1, 5) }, () => {
        const name = r.pick(PRODUCTS);
        return {
          sku: `SKU-${String(PRODUCTS.indexOf(name) + 1).padStart(4, '0')}`,
          name,
          quantity: r.chance(0.1) ? r.int(1, 40) / 2 : r.int(1, 20),
          price: (r.int(5_000, 5_000_000) / 100).toFixed(2),
        };
      });
      const cents = items.reduce((sum, item) => sum + lineCents(item), 0);
      // a discount the items do not show
      const total = ((r.chance(0.03) ? Math.round(cents * 0.9) : cents) / 100).toFixed(2);
      const currencyRoll = r.next();
      const written = currencyRoll < 0.88 ? 'RUB' : currencyRoll < 0.91 ? 'RUR' : currencyRoll < 0.94 ? 'rub' : currencyRoll < 0.97 ? 'USD' : 'EUR';
      const contacts = company.inn === null ? [] : o.contactsByInn.get(company.inn) ?? [];
      const contactKey = kind !== 'company_missing' && contacts.length > 0 && r.chance(0.7) ? r.pick(contacts) : null;
      const order: GeneratedOrder = {
        key: o.store === 'store_a' ? String(n) : `BO-${n}`,
        number: o.store === 'store_a' ? `ЗК-${String(n).padStart(6, '0')}` : `B-${new Date(created).getUTCFullYear()}-${String(n).padStart(6, '0')}`,
        companyKey, contactKey, status: status.status, total, currency: written, created, updated, items,
      };
      await write(order);
      truth[order.key] = orderTruth(order, o.store, kind === 'company_missing' ? undefined : company.inn, windowStart);
    }
  }
  return truth;
}

/**
 * What the transform makes of an order: `inn` is its company's accepted INN, null when the
 * company's record is rejected, undefined when no such company was landed.
 */
export function orderTruth(order: GeneratedOrder, store: 'store_a' | 'store_b', inn: string | null | undefined, windowStart: number): OrderTruth {
  if (inn === undefined) return { reason: 'company_missing' };
  if (inn === null) return { reason: 'company_rejected' };
  if (order.created < windowStart) return { reason: 'out_of_window' };
  const status = STATUSES[store].find((s) => s.status === order.status);
  if (!status?.stage) return { reason: 'stage_unmapped' };
  const cents = order.items.reduce((sum, item) => sum + lineCents(item), 0);
  const currency = order.currency.toUpperCase();
  return {
    inn, contact: order.contactKey, stage: status.stage, outcome: status.outcome, amount: order.total,
    currency: currency === 'RUR' ? 'RUB' : currency,
    created: new Date(Math.floor(order.created / 1000) * 1000).toISOString(), items: order.items.length,
    ...(Math.round(Number(order.total) * 100) !== cents ? { warnings: ['total_mismatch'] } : {}),
  };
}

/** A store's accepted contact records per company INN. */
export function contactsByInn(contacts: Record<string, { inn?: string }>): Map<string, string[]> {
  const byInn = new Map<string, string[]>();
  for (const [key, contact] of Object.entries(contacts)) {
    if (contact.inn === undefined) continue;
    const keys = byInn.get(contact.inn) ?? [];
    keys.push(key);
    byInn.set(contact.inn, keys);
  }
  return byInn;
}

/**
 * A line's amount in kopecks, rounded half up as the warehouse rounds it: quantities are whole
 * or halves, so twice the quantity times the price in kopecks is an exact integer.
 */
function lineCents(item: { quantity: number; price: string }): number {
  const priceCents = Math.round(Number(item.price) * 100);
  return Math.round((Math.round(item.quantity * 2) * priceCents) / 2);
}

function pickWeighted<T extends { weight: number }>(r: Random, options: readonly T[]): T {
  let roll = r.next() * options.reduce((sum, x) => sum + x.weight, 0);
  for (const option of options) {
    roll -= option.weight;
    if (roll < 0) return option;
  }
  return options[options.length - 1]!;
}

/**
 * Store B's orders file: one JSON array, each order with its items inside, times in Moscow
 * time. Returns the truth, and some accepted orders with their company's key for the events
 * to change.
 */
export async function writeStoreBOrders(r: Random, o: Omit<OrderOptions, 'store' | 'missingCompanyKey'>, path: string): Promise<{ truth: Record<string, OrderTruth>; some: GeneratedOrder[] }> {
  const file = new JsonArrayFile(path);
  const some: GeneratedOrder[] = [];
  const accepted = new Set(o.companies.filter((c) => c.inn !== null).map((c) => c.key));
  const truth = await generateOrders(r, { ...o, store: 'store_b', missingCompanyKey: (n) => `B-NX${n}` }, async (order) => {
    await file.add(storeBOrder(order, r));
    if (some.length < 500 && accepted.has(order.companyKey) && order.created >= o.windowStart.getTime() && r.chance(0.2)) some.push(order);
  });
  await file.close();
  return { truth, some };
}

/** What the events do to orders: the orders file's `some` to change, and the store's window. */
export interface OrderEventsOptions {
  random: Random;
  count: number;
  windowStart: Date;
  some: GeneratedOrder[];
}

/**
 * Store B's order events, after its company and contact events: new orders of companies
 * still standing, status changes of the file's orders and of new ones, orders upserted then
 * deleted, and old orders that arrive after newer ones. `companies`: the accepted company
 * records still standing after the company events, with their INN. Returns each event's line
 * (as `line` makes it) through `emit`, and the truth of every order the events touched.
 */
export async function orderEvents(
  o: OrderEventsOptions,
  companies: Array<{ key: string; inn: string }>,
  firstAt: number,
  /** Whether a contact record is deleted by the events before: an order changed afterwards no longer names it. */
  contactGone: (key: string) => boolean,
  emit: (line: string) => Promise<void>,
  line: (type: 'order.upserted' | 'order.deleted', occurredAt: string, data: Record<string, unknown>) => string,
): Promise<Record<string, OrderTruth>> {
  const r = o.random;
  const truth: Record<string, OrderTruth> = {};
  const innOf = new Map(companies.map((c) => [c.key, c.inn]));
  const windowStart = o.windowStart.getTime();
  const live: GeneratedOrder[] = o.some.filter((order) => innOf.has(order.companyKey));
  let created = 0;
  const newOrder = (at: number, old: boolean): GeneratedOrder => {
    created += 1;
    const company = r.pick(companies);
    const items = Array.from({ length: r.int(1, 4) }, () => {
      const name = r.pick(PRODUCTS);
      return { sku: `SKU-${String(PRODUCTS.indexOf(name) + 1).padStart(4, '0')}`, name, quantity: r.int(1, 10), price: (r.int(10_000, 900_000) / 100).toFixed(2) };
    });
    const cents = items.reduce((sum, item) => sum + lineCents(item), 0);
    const when = old ? windowStart + r.int(10, 300) * DAY : at - r.int(0, 3) * DAY;
    return {
      key: `BO-E${created}`, number: `B-E-${String(created).padStart(6, '0')}`, companyKey: company.key, contactKey: null,
      status: old ? 'delivered' : r.pick(['created', 'paid']), total: (cents / 100).toFixed(2), currency: 'RUB',
      created: when, updated: old ? when + DAY : at, items,
    };
  };
  for (let k = 0; k < o.count && companies.length > 0; k++) {
    const at = firstAt + k * 1000;
    const occurredAt = new Date(at).toISOString();
    const roll = r.next();
    let order: GeneratedOrder;
    if (roll < 0.45 || live.length === 0) {
      order = newOrder(at, false);
      live.push(order);
    } else if (roll < 0.5) {
      // an order of last year that reaches the topic after newer ones
      order = newOrder(at, true);
      live.push(order);
    } else if (roll < 0.9) {
      const i = r.int(0, live.length - 1);
      const before = live[i]!;
      order = { ...before, status: r.pick(['paid', 'delivered', 'delivered', 'canceled']), updated: at,
        contactKey: before.contactKey !== null && contactGone(before.contactKey) ? null : before.contactKey };
      live[i] = order;
    } else {
      const i = r.int(0, live.length - 1);
      const gone = live[i]!;
      live.splice(i, 1);
      await emit(line('order.deleted', occurredAt, { id: gone.key }));
      truth[gone.key] = { deleted: true };
      continue;
    }
    await emit(line('order.upserted', occurredAt, storeBOrder(order, r)));
    truth[order.key] = orderTruth(order, 'store_b', innOf.get(order.companyKey), windowStart);
  }
  return truth;
}

/** An order as store B writes it (file and events): amounts as numbers or strings, times with the Moscow offset. */
export function storeBOrder(order: GeneratedOrder, r: Random): Record<string, unknown> {
  return {
    id: order.key,
    number: order.number,
    company_id: order.companyKey,
    ...(order.contactKey === null ? {} : { contact_id: order.contactKey }),
    status: order.status,
    total: r.chance(0.5) ? Number(order.total) : order.total,
    currency: order.currency,
    created: moscow(order.created),
    updated: moscow(order.updated),
    items: order.items.map((item) => ({ sku: item.sku, name: item.name, qty: item.quantity, price: Number(item.price) })),
  };
}

/** A time as store B writes it: ISO-8601 in Moscow time (+03:00). */
function moscow(ms: number): string {
  return `${new Date(Math.floor(ms / 1000) * 1000 + 3 * 3_600_000).toISOString().slice(0, 19)}+03:00`;
}
