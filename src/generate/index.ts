import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Random } from './random.js';
import { generateEvents, type EventsTruth } from './events.js';
import { writeRegistrySnapshot, type RegistryTruth } from './registry.js';
import { generateStoreA, type StoreATruth } from './store-a.js';
import { contactsByInn, writeStoreBOrders } from './orders.js';
import { generateStoreB, type StoreBTruth } from './store-b.js';

export type Scale = 'small' | 'seed';

interface Volumes {
  companies: number;
  contacts: number;
  storeACompanies: number;
  storeAContacts: number;
  events: number;
}

const SCALES: Record<Scale, Volumes> = {
  small: { companies: 2_000, contacts: 9_600, storeACompanies: 1_000, storeAContacts: 1_500, events: 2_000 },
  seed: { companies: 125_000, contacts: 600_000, storeACompanies: 53_000, storeAContacts: 75_000, events: 600_000 },
};

/** Store A's MySQL dump and store B's Kafka events, beside the manifest's files. */
export const STORE_A_DUMP = 'store_a.sql';
export const STORE_B_EVENTS = 'store_b_events.ndjson';
/** The registry export for the snapshot provider (`b2b-etl registry import`). */
export const REGISTRY_SNAPSHOT = 'registry.json';

/** One file to land: what the demo, the tests and `land file` need to know about it. */
export interface ManifestFile {
  file: string;
  source: string;
  entity: 'companies' | 'contacts' | 'orders';
  encoding: 'utf8' | 'cp1251';
  jsonPath?: string;
}

/** What a sample holds, by version: a sample written by an older generator is made again (2: orders). */
export const SAMPLE_FORMAT = 2;

export interface Truth {
  /** SAMPLE_FORMAT when it was written. */
  format: number;
  seed: number;
  as_of: string;
  window_start: string;
  store_b: StoreBTruth;
  store_a: StoreATruth;
  store_b_events: EventsTruth;
  /** Expected canonical name per INN once store A and store B's files are both loaded. */
  names_all: Record<string, string>;
  /** What the registry snapshot says per accepted INN (NOT_FOUND: not in the file). */
  registry: RegistryTruth;
}

export interface GenerateOptions {
  out: string;
  scale?: Scale;
  seed?: number;
  /** The day the data is "exported"; fixes the load window, so output depends only on options. */
  asOf?: string;
  companies?: number;
  contacts?: number;
  storeACompanies?: number;
  storeAContacts?: number;
  events?: number;
}

export interface Generated {
  manifest: ManifestFile[];
  truth: Truth;
}

/** Deterministic sample data: the same options give byte-identical files. */
export async function generate(options: GenerateOptions): Promise<Generated> {
  const scale = SCALES[options.scale ?? 'small'];
  const seed = options.seed ?? 1;
  const asOf = new Date(`${options.asOf ?? '2026-11-01'}T12:00:00Z`);
  if (Number.isNaN(asOf.getTime())) throw new Error(`--as-of '${options.asOf}' is not a date (YYYY-MM-DD)`);
  const windowStart = new Date(Date.UTC(asOf.getUTCFullYear() - 1, 0, 1));
  mkdirSync(options.out, { recursive: true });

  const manifest: ManifestFile[] = [
    { file: 'store_b_companies.json', source: 'store_b', entity: 'companies', encoding: 'utf8' },
    { file: 'store_b_companies_legacy.cp1251.json', source: 'store_b', entity: 'companies', encoding: 'cp1251' },
    { file: 'store_b_contacts.json', source: 'store_b', entity: 'contacts', encoding: 'utf8', jsonPath: 'contacts' },
    { file: 'store_b_orders.json', source: 'store_b', entity: 'orders', encoding: 'utf8' },
  ];
  const { truth: storeB, context } = await generateStoreB(new Random(seed), {
    companies: options.companies ?? scale.companies,
    contacts: options.contacts ?? scale.contacts,
    asOf,
    windowStart,
    companiesFile: join(options.out, manifest[0]!.file),
    legacyFile: join(options.out, manifest[1]!.file),
    contactsFile: join(options.out, manifest[2]!.file),
  });
  // Orders: streams of their own, so the companies and contacts are what they were without them.
  const storeBOrders = await writeStoreBOrders(new Random(seed * 7 + 9), {
    asOf, windowStart, companies: context.companies.map((c) => ({ key: c.key, inn: c.inn })), contactsByInn: contactsByInn(storeB.contacts),
  }, join(options.out, manifest[3]!.file));
  storeB.orders = storeBOrders.truth;
  // Events first: they describe store B's files as they are, before store A's names join.
  const messages = options.events ?? scale.events;
  const events = await generateEvents(new Random(seed * 7 + 3), {
    messages,
    asOf,
    file: join(options.out, STORE_B_EVENTS),
    orders: { random: new Random(seed * 7 + 11), count: Math.round(messages * 0.05), windowStart, some: storeBOrders.some },
  }, context, storeB);
  const storeA = await generateStoreA(new Random(seed * 7 + 1), {
    companies: options.storeACompanies ?? scale.storeACompanies,
    contacts: options.storeAContacts ?? scale.storeAContacts,
    asOf,
    windowStart,
    file: join(options.out, STORE_A_DUMP),
    orders: new Random(seed * 7 + 13),
  }, context);
  const truth: Truth = {
    format: SAMPLE_FORMAT,
    seed,
    as_of: asOf.toISOString().slice(0, 10),
    window_start: windowStart.toISOString().slice(0, 10),
    store_b: storeB,
    store_a: storeA,
    store_b_events: events,
    names_all: Object.fromEntries([...context.newest].map(([inn, { name }]) => [inn, name])),
    registry: writeRegistrySnapshot(new Random(seed * 7 + 5), join(options.out, REGISTRY_SNAPSHOT),
      new Map([...context.newest].map(([inn, { name }]) => [inn, name]))),
  };
  writeFileSync(join(options.out, 'manifest.json'), JSON.stringify(manifest, null, 2) + '\n');
  writeFileSync(join(options.out, 'truth.json'), JSON.stringify(truth) + '\n');
  return { manifest, truth };
}
