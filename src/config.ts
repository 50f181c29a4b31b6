import { existsSync, readFileSync } from 'node:fs';
import type { SASLOptions } from 'kafkajs';
import { z } from 'zod';
import { entityPlural, type Entity } from './land/record.js';
import type { BadRecordPolicy } from './land/pipeline.js';
import { ConfigError, parseWith, UsageError } from './config-problems.js';

export { ConfigError, UsageError } from './config-problems.js';

const text = z.string().min(1);
const positiveInt = z.number().int().positive();
const positive = z.number().positive();
const encoding = z.enum(['utf8', 'cp1251']);
const mysqlIdentifier = z.string().regex(/^[A-Za-z_][A-Za-z0-9_$]*$/, 'expected a plain MySQL identifier (letters, digits, _ and $)');
/** The offset of times written without one. */
const timezone = z.string().regex(/^(Z|UTC|[+-](0\d|1[0-5]):[0-5]\d)$/, 'expected an offset like +03:00');
/** How a source writes its change times: ISO-8601 or dd.mm.yyyy text, or epoch seconds or milliseconds. */
const updatedFormat = z.enum(['iso', 'epoch_seconds', 'epoch_millis']);

/**
 * Which payload fields carry a file source's key, change time and deletion flag. One
 * object per entity (sources.<name>.companies / .contacts): per-entity options go here.
 */
const recordFieldsSchema = z.strictObject({
  key: text,
  updated: text,
  deleted: text,
  updatedFormat,
});

const mysqlTableSchema = z.strictObject({ table: mysqlIdentifier, key: mysqlIdentifier, updated: mysqlIdentifier });
/** An order's lines: their table, the column naming their order, their change time (a line's change is its order's). */
const mysqlItemsSchema = z.strictObject({ table: mysqlIdentifier, orderKey: mysqlIdentifier, updated: mysqlIdentifier });

const mysqlSourceSchema = z.strictObject({
  /** How the bytes of text columns are to be read (a latin1 column holding cp1251: cp1251). */
  textEncoding: encoding,
  /** The offset the source's DATETIME values are in, e.g. +00:00 or +03:00. */
  timezone,
  /** How far before the watermark an incremental sync starts again (late commits). */
  lagSeconds: z.number().int().nonnegative(),
  batchSize: positiveInt,
  companies: mysqlTableSchema.partial(),
  contacts: mysqlTableSchema.partial(),
  /** Orders are read when the table exists (or is named here: then it must). */
  orders: mysqlTableSchema.partial(),
  orderItems: mysqlItemsSchema.partial(),
});

const kafkaSourceSchema = z.strictObject({
  topic: text,
  groupId: text,
  /** The store whose records the events change: events land under its name. */
  recordSource: text,
  /** Tried when a message is not valid UTF-8. */
  fallbackEncoding: z.literal('cp1251').nullable(),
  /** Quiet time after a landed batch before the transform runs, and the longest wait. */
  transformDebounceMs: z.number().int().nonnegative(),
  transformMaxWaitMs: positiveInt,
  /** Most bytes one fetch takes from one partition: the size of a landed batch. */
  fetchMaxBytesPerPartition: positiveInt,
  /** Partitions landed at once, each batch in its own transaction. */
  partitionsInParallel: positiveInt,
  /** The offset of change times written without one (default: the source's timezone, else +00:00). */
  timezone,
  /** The form of data.updated and occurred_at. */
  updatedFormat,
});

const sourceSchema = z.strictObject({
  encoding,
  /** The offset of change times written without one, e.g. +03:00 (default +00:00). */
  timezone,
  companies: recordFieldsSchema.partial(),
  contacts: recordFieldsSchema.partial(),
  orders: recordFieldsSchema.partial(),
  mysql: mysqlSourceSchema.partial(),
  kafka: kafkaSourceSchema.partial(),
  /**
   * Records a landing of this source may land raw and rejected unparseable before it stops
   * (one file load, one MySQL sync, one consumer's life); null: never stop. Default: 0 for
   * files (--max-errors overrides it), null for MySQL and Kafka.
   */
  maxBadRecords: z.number().int().nonnegative().nullable(),
});

const registrySchema = z.strictObject({
  provider: z.enum(['dadata', 'snapshot']),
  /** Requests per second to the provider, shared by every worker process. */
  rps: positive,
  /** registry_check jobs run at once in one worker process. */
  concurrency: positiveInt,
  /** Tries for a transient failure within one job, with exponential backoff and jitter. */
  attempts: positiveInt,
  backoffMs: positive,
  timeoutMs: positive,
  /** A worker process silent this long is taken for dead and its jobs are unlocked. */
  workerStaleSeconds: positive,
});

/**
 * How to reach the Kafka cluster (brokers: KAFKA_BROKERS). Managed clusters want TLS and
 * SASL; the SASL user and password come only from KAFKA_SASL_USERNAME / KAFKA_SASL_PASSWORD.
 */
const kafkaConnectionSchema = z.strictObject({
  tls: z.union([
    z.boolean(),
    z.strictObject({
      /** PEM file of the certificate authority that signed the brokers' certificates. */
      caFile: text.optional(),
      rejectUnauthorized: z.boolean().optional(),
      servername: text.optional(),
    }),
  ]),
  sasl: z.strictObject({ mechanism: z.enum(['plain', 'scram-sha-256', 'scram-sha-512']) }),
  connectionTimeoutMs: positiveInt,
});

/** The push to Bitrix24 (the webhook URL, a secret, comes from BITRIX24_WEBHOOK_URL). */
const crmSchema = z.strictObject({
  /**
   * The portal's name: links and the memory of what was pushed are kept under it, whatever
   * address the webhook reaches it at. Without it a portal is named by the first address it was
   * reached at, and a new address is recognised by the entities the portal holds.
   */
  portal: z.string().regex(/^[^\s/\p{Cc}]{1,200}$/u, 'a name of 1 to 200 characters without spaces, slashes or control characters'),
  /** The portal's plan: its request bucket, 50 and 2/s (standard) or 250 and 5/s (enterprise). */
  plan: z.enum(['standard', 'enterprise']),
  /** import: crm.item.batchImport (no automation on create); add: crm.*.add. */
  mode: z.enum(['import', 'add']),
  concurrency: positiveInt,
  /** Companies (contacts: five times as many) a process takes at a time; several processes pushing share the work by these. */
  chunk: positiveInt,
  /** Overrides of the plan's bucket and of a method's execution-time limit per window (seconds). */
  bucketSize: positiveInt,
  drain: positive,
  operatingLimit: positive,
  /** The window the execution-time limit counts in, seconds (600 in the cloud's docs). */
  operatingWindow: positive,
  /** A certificate authority to trust for the portal (a sandbox's self-signed certificate). */
  caFile: text,
  /**
   * Seconds after a write got no answer before its entities are looked up in the CRM: the
   * portal may still be running the request (it gives up on one after 60 s).
   */
  settleSeconds: z.number().nonnegative(),
});

/** A crontab time, five fields (minute hour day month weekday), read in UTC as graphile-worker reads it. */
const cron = z.string().trim().regex(/^(\S+\s+){4}\S+$/, 'five cron fields (minute hour day month weekday), in UTC');

/** `b2b-etl worker`: what it runs besides the queued jobs, and where it answers. */
const workerSchema = z.strictObject({
  /** Per MySQL source, when its sync runs (land_mysql); default for a source with a mysql section: daily 23:00 UTC (02:00 Moscow). */
  sync: z.record(z.string(), cron),
  /** Kafka sources consumed in the worker's process; default: each source the config gives a kafka section. */
  consume: z.array(z.string()),
  /** When answers older than the registry's TTL are asked again (default 03:15 UTC). */
  registryRefresh: cron,
  /** When a push is queued for what the portal of BITRIX24_WEBHOOK_URL still lacks (default every 10 minutes). */
  pushSweep: cron,
  /** Jobs at once in one worker process (default: registry.concurrency). */
  concurrency: positiveInt,
  /** /healthz, /metrics and the report: the address (loopback by default) and port (0: none). */
  host: text,
  port: z.number().int().min(0).max(65535),
});

export const configSchema = z.strictObject({
  $schema: z.string().optional(),
  sources: z.record(z.string(), sourceSchema.partial()).default({}),
  registry: registrySchema.partial().optional(),
  kafka: kafkaConnectionSchema.partial().optional(),
  crm: crmSchema.partial().optional(),
  worker: workerSchema.partial().optional(),
  status: z.strictObject({
    /** Per source, how long it may land nothing before `status` says a person is needed (e.g. 26h, 90m). */
    maxFeedAge: z.record(z.string(), z.string().regex(/^\d+\s*(s|m|h|d)$/, 'a duration like 90m, 26h or 2d')),
  }).partial().optional(),
});

export type Config = z.infer<typeof configSchema>;

/** The worker's settings, defaults filled in. */
export interface WorkerConfig {
  sync: Record<string, string>;
  consume: string[];
  registryRefresh: string;
  pushSweep: string;
  concurrency: number;
  host: string;
  port: number;
}

/** Daily at 23:00 UTC: 02:00 in Moscow, as the seed system synced store A. */
export const DEFAULT_SYNC = '0 23 * * *';

/**
 * The worker's settings: a sync for each MySQL source the config file describes (a mysql
 * section) or `worker.sync` names, a consumer for each Kafka source the file describes (a
 * kafka section) unless `worker.consume` says which; each named source is checked to be of
 * its kind.
 */
export function workerConfig(config: Config): WorkerConfig {
  const w = config.worker ?? {};
  const described = (section: 'mysql' | 'kafka') => Object.entries(config.sources).filter(([, s]) => s[section]).map(([name]) => name);
  const sync: Record<string, string> = Object.fromEntries(described('mysql').map((source) => [source, DEFAULT_SYNC]));
  Object.assign(sync, w.sync);
  for (const source of Object.keys(sync)) mysqlSource(config, source);
  const consume = w.consume ?? described('kafka');
  for (const source of consume) kafkaSource(config, source);
  return {
    sync, consume, registryRefresh: w.registryRefresh ?? '15 3 * * *', pushSweep: w.pushSweep ?? '* * * * *',
    concurrency: w.concurrency ?? registryConfig(config).concurrency, host: w.host ?? '127.0.0.1', port: w.port ?? 9464,
  };
}
export type SourceConfig = z.infer<typeof sourceSchema>;
/** A source entity's fields after defaults: key and change time always named. */
export type RecordFields = Partial<z.infer<typeof recordFieldsSchema>> & Pick<z.infer<typeof recordFieldsSchema>, 'key' | 'updated'> & {
  /** The source's zone for change times written without an offset. */
  timezone?: string;
};
export type RegistryConfig = z.infer<typeof registrySchema>;
export type MysqlTableConfig = z.infer<typeof mysqlTableSchema>;
export type MysqlItemsConfig = z.infer<typeof mysqlItemsSchema>;
export type MysqlSourceConfig = Omit<z.infer<typeof mysqlSourceSchema>, 'companies' | 'contacts' | 'orders' | 'orderItems'> & {
  companies: MysqlTableConfig;
  contacts: MysqlTableConfig;
  orders: MysqlTableConfig;
  orderItems: MysqlItemsConfig;
  /** The configuration names the orders table: a replica without it is an error, not a store without orders. */
  ordersRequired?: boolean;
};
export type KafkaSourceConfig = z.infer<typeof kafkaSourceSchema>;
export type KafkaConnectionConfig = z.infer<typeof kafkaConnectionSchema>;

const REGISTRY_DEFAULTS: RegistryConfig = {
  provider: 'snapshot', rps: 20, concurrency: 16, attempts: 5, backoffMs: 500, timeoutMs: 10_000, workerStaleSeconds: 60,
};

const MYSQL_DEFAULTS: MysqlSourceConfig = {
  textEncoding: 'utf8',
  timezone: '+00:00',
  lagSeconds: 600,
  batchSize: 5000,
  companies: { table: 'companies', key: 'id', updated: 'updated_at' },
  contacts: { table: 'contacts', key: 'id', updated: 'updated_at' },
  orders: { table: 'orders', key: 'id', updated: 'updated_at' },
  orderItems: { table: 'order_items', orderKey: 'order_id', updated: 'updated_at' },
};

const KAFKA_DEFAULTS: Omit<KafkaSourceConfig, 'topic' | 'groupId' | 'recordSource'> = {
  fallbackEncoding: 'cp1251',
  // a live feed wants its changes in canonical within a second: the transform waits little
  // for more landings, and a steady stream is transformed at least every 300 ms
  transformDebounceMs: 50,
  transformMaxWaitMs: 300,
  fetchMaxBytesPerPartition: 4 << 20,
  partitionsInParallel: 2,
  timezone: '+00:00',
  updatedFormat: 'iso',
};

/** Built-in sources: store A's replica is latin1 holding cp1251; store B's events topic. */
const BUILT_IN: Record<string, Partial<SourceConfig>> = {
  store_a: { mysql: { textEncoding: 'cp1251' } },
  store_b_events: { kafka: { topic: 'store_b.events', groupId: 'b2b-etl', recordSource: 'store_b' } },
};

const DEFAULT_FIELDS: RecordFields = { key: 'id', updated: 'updated' };

/** The configuration file: B2B_ETL_CONFIG, else b2b-etl.config.json in the working folder. */
export function configPath(env: NodeJS.ProcessEnv = process.env): string {
  return env.B2B_ETL_CONFIG ?? 'b2b-etl.config.json';
}

/**
 * The declarative configuration: b2b-etl.config.json in the working folder, or the file
 * named by B2B_ETL_CONFIG, checked whole: every problem is reported with its path at once.
 * Secrets never live here; they come from the environment.
 */
export function loadConfig(path = configPath()): Config {
  if (!existsSync(path)) {
    if (process.env.B2B_ETL_CONFIG) throw new ConfigError(`${path}: configuration file not found (named by B2B_ETL_CONFIG)`);
    return { sources: {} };
  }
  let body: string;
  try {
    body = readFileSync(path, 'utf8');
  } catch (e) {
    throw new ConfigError(`${path}: cannot read the configuration file: ${(e as Error).message}`);
  }
  return parseConfig(body, path);
}

/** The configuration in `body` (JSON text), validated; `name` says where it came from in messages. */
export function parseConfig(body: string, name: string): Config {
  // editors on Windows save UTF-8 with a byte order mark, which JSON.parse refuses
  return parseWith(configSchema, body.replace(/^\uFEFF/, ''), name);
}

/**
 * Refuses source names the warehouse knows nothing of (a typo such as sotre_b would
 * otherwise configure nothing, silently): a name must be built in, have its own mysql or
 * kafka section, or be mapped by a staging view (`mapped`: staging.mapped_source's sources).
 */
export function checkSourceNames(config: Config, mapped: readonly string[], name = configPath()): void {
  const own = Object.entries(config.sources).filter(([, s]) => s.mysql || s.kafka).map(([source]) => source);
  const known = [...new Set([...Object.keys(BUILT_IN), ...mapped, ...own])].sort();
  const unknown = Object.keys(config.sources).filter((source) => !known.includes(source));
  if (unknown.length === 0) return;
  throw new ConfigError(`${name}: ${unknown.length} problem${unknown.length === 1 ? '' : 's'}, nothing was run:\n  ` +
    unknown.map((source) => `sources.${source}: unknown source (known: ${known.join(', ')}; a source of your own needs a mysql or kafka section, ` +
      'or a mapping view in staging.mapped_source for its files)').join('\n  '));
}

export function registryConfig(config: Config): RegistryConfig {
  return { ...REGISTRY_DEFAULTS, ...config.registry };
}

/** Whether a source is read from MySQL (built in, or given a mysql section). */
export function isMysqlSource(config: Config, source: string): boolean {
  return Boolean(BUILT_IN[source]?.mysql ?? config.sources[source]?.mysql);
}

/** A MySQL source's settings, defaults filled in; a source with no mysql section (built in or configured) is refused. */
export function mysqlSource(config: Config, source: string): MysqlSourceConfig {
  const configured = config.sources[source]?.mysql;
  if (!BUILT_IN[source]?.mysql && !configured) throw new UsageError(notA('MySQL', 'mysql', config, source));
  const given = { ...BUILT_IN[source]?.mysql, ...configured };
  return {
    ...MYSQL_DEFAULTS,
    ...given,
    companies: { ...MYSQL_DEFAULTS.companies, ...given.companies },
    contacts: { ...MYSQL_DEFAULTS.contacts, ...given.contacts },
    orders: { ...MYSQL_DEFAULTS.orders, ...given.orders },
    orderItems: { ...MYSQL_DEFAULTS.orderItems, ...given.orderItems },
    ordersRequired: given.orders !== undefined || given.orderItems !== undefined,
  };
}

/**
 * A Kafka source's settings, defaults filled in, `chosen` (--topic, --group) over them. A
 * source with no kafka section is refused rather than consumed with defaults: its event
 * format, time zone and record source were never said, so a mistyped store_b for
 * store_b_events would join a group and land events under the wrong settings.
 */
export function kafkaSource(config: Config, source: string, chosen: { topic?: string; groupId?: string } = {}): KafkaSourceConfig {
  const configured = config.sources[source]?.kafka;
  if (!BUILT_IN[source]?.kafka && !configured) throw new UsageError(notA('Kafka', 'kafka', config, source));
  const given = { ...BUILT_IN[source]?.kafka, ...configured };
  const zone = config.sources[source]?.timezone;
  const merged = { ...KAFKA_DEFAULTS, groupId: 'b2b-etl', recordSource: source, ...(zone ? { timezone: zone } : {}), ...given };
  if (chosen.groupId) merged.groupId = chosen.groupId;
  const topic = chosen.topic ?? merged.topic;
  if (!topic) throw new ConfigError(`source ${source}: no sources.${source}.kafka.topic configured (b2b-etl.config.json) and no --topic given`);
  return { ...merged, topic };
}

/** "store_b is not a Kafka source: …", naming the sources of that kind. */
function notA(kind: string, section: 'mysql' | 'kafka', config: Config, source: string): string {
  const builtIn = Object.entries(BUILT_IN).filter(([, s]) => s[section]).map(([name]) => `${name} (built in)`);
  const own = Object.entries(config.sources).filter(([, s]) => s[section]).map(([name]) => name);
  return `${source} is not a ${kind} source: the ${kind} sources are ${[...builtIn, ...own.filter((n) => !BUILT_IN[n])].join(', ')}; ` +
    `another needs its sources.NAME.${section} section in ${configPath()}`;
}

/**
 * How a landing of `source` treats records it cannot land as they are: the source's
 * maxBadRecords, else its kind's default (a file stops at the first; a live feed or a replica
 * never stops for one). `flag` (--max-errors) overrides the config.
 */
export function badRecordPolicy(config: Config, source: string, kind: 'file' | 'mysql' | 'kafka', flag?: number): BadRecordPolicy {
  if (flag !== undefined) return { max: flag, setting: '--max-errors' };
  const configured = config.sources[source]?.maxBadRecords;
  const setting = `sources.${source}.maxBadRecords`;
  if (configured !== undefined) return { max: configured ?? Infinity, setting };
  return { max: kind === 'file' ? 0 : Infinity, setting: kind === 'file' ? `--max-errors or ${setting}` : setting };
}

export function recordFields(config: Config, source: string, entity: Entity): RecordFields {
  const configured = config.sources[source]?.[entityPlural(entity)] ?? {};
  const zone = config.sources[source]?.timezone;
  return { ...DEFAULT_FIELDS, ...(zone ? { timezone: zone } : {}), ...configured };
}

/** What the Kafka client needs to reach a cluster with TLS and SASL (kafkajs' ssl and sasl options). */
export interface KafkaConnection {
  ssl?: boolean | { ca?: string[]; rejectUnauthorized?: boolean; servername?: string };
  sasl?: SASLOptions;
  connectionTimeout?: number;
}

/**
 * The cluster connection from the config's kafka section and the environment: the CA file
 * read, the SASL credentials from KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD.
 */
export function kafkaConnection(config: Config, env: NodeJS.ProcessEnv = process.env): KafkaConnection {
  const k = config.kafka ?? {};
  const connection: KafkaConnection = {};
  if (k.connectionTimeoutMs) connection.connectionTimeout = k.connectionTimeoutMs;
  if (k.tls === true) connection.ssl = true;
  if (typeof k.tls === 'object') {
    let ca: string[] | undefined;
    if (k.tls.caFile) {
      try {
        ca = [readFileSync(k.tls.caFile, 'utf8')];
      } catch (e) {
        throw new ConfigError(`kafka.tls.caFile ${k.tls.caFile}: cannot read the certificate authority file: ${(e as Error).message}`);
      }
    }
    connection.ssl = { ca, rejectUnauthorized: k.tls.rejectUnauthorized ?? true, servername: k.tls.servername };
  }
  if (k.sasl) {
    const missing = ['KAFKA_SASL_USERNAME', 'KAFKA_SASL_PASSWORD'].filter((name) => !env[name]);
    if (missing.length > 0) {
      throw new ConfigError(`kafka.sasl.mechanism is ${k.sasl.mechanism}: set ${missing.join(' and ')} in the environment (credentials never live in the config file)`);
    }
    // one object per mechanism in kafkajs' types; the three take the same fields
    connection.sasl = { mechanism: k.sasl.mechanism, username: env.KAFKA_SASL_USERNAME!, password: env.KAFKA_SASL_PASSWORD! } as SASLOptions;
  }
  return connection;
}

/** A broker as kafkajs takes it: host:port, no scheme, no credentials. */
const BROKER = /^([A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?):(\d{1,5})$/;

/**
 * KAFKA_BROKERS (default 127.0.0.1:9092) as host:port entries. Anything else is refused
 * naming the variable: kafkajs would retry a port it cannot read forever. An entry holding
 * credentials is not quoted (they are masked anyway, but are never echoed in the first place).
 */
export function kafkaBrokers(env: NodeJS.ProcessEnv = process.env): string[] {
  const entries = (env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(',').map((b) => b.trim()).filter(Boolean);
  const problems = entries.map((entry) => {
    if (entry.includes('@')) return 'an entry holds credentials (USER:PASSWORD@): SASL credentials go in KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD';
    const match = BROKER.exec(entry);
    if (!match) return `'${entry}' is not host:port`;
    const port = Number(match[2]);
    return port >= 1 && port <= 65535 ? null : `'${entry}' has port ${match[2]}, outside 1-65535`;
  }).filter((problem) => problem !== null);
  if (entries.length === 0) problems.push('it is empty');
  if (problems.length > 0) {
    throw new ConfigError(`KAFKA_BROKERS must list the brokers as host:port, separated by commas (kafka1:9092,kafka2:9092): ${problems.join('; ')}; nothing was consumed`);
  }
  return entries;
}

/** Schemes MYSQL_URL may have: the client reads any, so a postgres:// URL would be tried as MySQL until it timed out. */
const MYSQL_SCHEMES = ['mysql:', 'mariadb:'];

/** MYSQL_URL, checked before anything connects: set, a URL, a MySQL one. */
export function mysqlUrl(env: NodeJS.ProcessEnv = process.env): string {
  const url = env.MYSQL_URL;
  const form = 'mysql://USER@HOST:3306/DATABASE (a password goes after the user and a colon, its @ / : ? # % written as %40 %2F %3A %3F %23 %25)';
  if (!url) throw new UsageError(`MYSQL_URL is not set: the source replica as ${form}`);
  if (!URL.canParse(url)) throw new ConfigError(`MYSQL_URL is not a URL: give the source replica as ${form}; nothing was landed`);
  const scheme = new URL(url).protocol;
  if (!MYSQL_SCHEMES.includes(scheme)) {
    throw new ConfigError(`MYSQL_URL is a ${scheme}// URL; store A's replica is MySQL or MariaDB: ${form}; nothing was landed`);
  }
  return url;
}
