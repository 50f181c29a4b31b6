import { existsSync, readFileSync } from 'node:fs';
import { offsetMinutes, type ChangeTimeFormat } from './land/change-time.js';
import type { Entity } from './land/record.js';

/** Which payload fields carry a file source's key, change time and deletion flag. */
export interface RecordFields {
  key: string;
  updated: string;
  deleted?: string;
  /** The form of the change time: ISO-8601 or dd.mm.yyyy text (default), or epoch seconds or milliseconds. */
  updatedFormat?: ChangeTimeFormat;
  /** The offset of change times written without one (the source's `timezone`). */
  timezone?: string;
}

export const CHANGE_TIME_FORMATS: readonly ChangeTimeFormat[] = ['iso', 'epoch_seconds', 'epoch_millis'];

export interface SourceConfig {
  encoding?: 'utf8' | 'cp1251';
  /** The offset of change times written without one, e.g. +03:00 (default +00:00). */
  timezone?: string;
  companies?: Partial<RecordFields>;
  contacts?: Partial<RecordFields>;
  mysql?: Partial<MysqlSourceConfig>;
  kafka?: Partial<KafkaSourceConfig>;
}

export interface Config {
  sources: Record<string, SourceConfig>;
  registry?: Partial<RegistryConfig>;
}

/** The registry (EGRUL) check: which provider, how fast, how persistent. */
export interface RegistryConfig {
  provider: 'dadata' | 'snapshot';
  /** Requests per second to the provider, shared by every worker process. */
  rps: number;
  /** registry_check jobs run at once in one worker process. */
  concurrency: number;
  /** Tries for a transient failure within one job, with exponential backoff and jitter. */
  attempts: number;
  backoffMs: number;
  timeoutMs: number;
  /** A worker process silent this long is taken for dead and its jobs are unlocked. */
  workerStaleSeconds: number;
}

const REGISTRY_DEFAULTS: RegistryConfig = {
  provider: 'snapshot', rps: 20, concurrency: 16, attempts: 5, backoffMs: 500, timeoutMs: 10_000, workerStaleSeconds: 60,
};

export function registryConfig(config: Config): RegistryConfig {
  const merged = { ...REGISTRY_DEFAULTS, ...config.registry };
  if (merged.provider !== 'dadata' && merged.provider !== 'snapshot') throw new Error(`registry.provider '${String(merged.provider)}': use dadata or snapshot`);
  for (const key of ['rps', 'concurrency', 'attempts', 'backoffMs', 'timeoutMs', 'workerStaleSeconds'] as const) {
    if (!(typeof merged[key] === 'number' && merged[key] > 0)) throw new Error(`registry.${key} must be a positive number`);
  }
  return merged;
}

/** A MySQL table the loader reads, keyset-ordered by (updated, key). */
export interface MysqlTableConfig {
  table: string;
  key: string;
  updated: string;
}

export interface MysqlSourceConfig {
  /** How the bytes of text columns are to be read (a latin1 column holding cp1251: cp1251). */
  textEncoding: 'utf8' | 'cp1251';
  /** The offset the source's DATETIME values are in, e.g. +00:00 or +03:00. */
  timezone: string;
  /** How far before the watermark an incremental sync starts again (late commits). */
  lagSeconds: number;
  batchSize: number;
  companies: MysqlTableConfig;
  contacts: MysqlTableConfig;
}

export interface KafkaSourceConfig {
  topic: string;
  groupId: string;
  /** The store whose records the events change: events land under its name. */
  recordSource: string;
  /** Tried when a message is not valid UTF-8. */
  fallbackEncoding: 'cp1251' | null;
  /** Quiet time after a landed batch before the transform runs, and the longest wait. */
  transformDebounceMs: number;
  transformMaxWaitMs: number;
  /** Most bytes one fetch takes from one partition: the size of a landed batch. */
  fetchMaxBytesPerPartition: number;
  /** Partitions landed at once, each batch in its own transaction. */
  partitionsInParallel: number;
  /** The offset of change times written without one. */
  timezone: string;
  /** The form of data.updated and occurred_at. */
  updatedFormat: ChangeTimeFormat;
}

const MYSQL_DEFAULTS: MysqlSourceConfig = {
  textEncoding: 'utf8',
  timezone: '+00:00',
  lagSeconds: 600,
  batchSize: 5000,
  companies: { table: 'companies', key: 'id', updated: 'updated_at' },
  contacts: { table: 'contacts', key: 'id', updated: 'updated_at' },
};

const KAFKA_DEFAULTS: Omit<KafkaSourceConfig, 'topic' | 'groupId' | 'recordSource'> = {
  fallbackEncoding: 'cp1251',
  transformDebounceMs: 150,
  transformMaxWaitMs: 1500,
  fetchMaxBytesPerPartition: 4 << 20,
  partitionsInParallel: 2,
  timezone: '+00:00',
  updatedFormat: 'iso',
};

/** Built-in sources: store A's replica is latin1 holding cp1251; store B's events topic. */
const BUILT_IN: Record<string, SourceConfig> = {
  store_a: { mysql: { textEncoding: 'cp1251' } },
  store_b_events: { kafka: { topic: 'store_b.events', groupId: 'b2b-etl', recordSource: 'store_b' } },
};

const DEFAULT_FIELDS: RecordFields = { key: 'id', updated: 'updated' };

/**
 * The declarative configuration: b2b-etl.config.json in the working folder, or the file
 * named by B2B_ETL_CONFIG. Secrets never live here; they come from the environment.
 */
export function loadConfig(path = process.env.B2B_ETL_CONFIG ?? 'b2b-etl.config.json'): Config {
  if (!existsSync(path)) {
    if (process.env.B2B_ETL_CONFIG) throw new Error(`${path}: configuration file not found (B2B_ETL_CONFIG)`);
    return { sources: {} };
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new Error(`${path}: not valid JSON: ${(e as Error).message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new Error(`${path}: expected an object with a "sources" field`);
  }
  const sources = (parsed as { sources?: unknown }).sources ?? {};
  if (typeof sources !== 'object' || sources === null || Array.isArray(sources)) {
    throw new Error(`${path}: "sources" must be an object keyed by source name`);
  }
  const registry = (parsed as { registry?: unknown }).registry;
  if (registry !== undefined && (typeof registry !== 'object' || registry === null || Array.isArray(registry))) {
    throw new Error(`${path}: "registry" must be an object`);
  }
  return { sources: sources as Record<string, SourceConfig>, registry: registry as Partial<RegistryConfig> | undefined };
}

export function mysqlSource(config: Config, source: string): MysqlSourceConfig {
  const given = { ...BUILT_IN[source]?.mysql, ...config.sources[source]?.mysql };
  const merged: MysqlSourceConfig = {
    ...MYSQL_DEFAULTS,
    ...given,
    companies: { ...MYSQL_DEFAULTS.companies, ...given.companies },
    contacts: { ...MYSQL_DEFAULTS.contacts, ...given.contacts },
  };
  if (!/^[+-]\d{2}:\d{2}$/.test(merged.timezone)) throw new Error(`source ${source}: mysql.timezone '${merged.timezone}' must look like +03:00`);
  if (merged.textEncoding !== 'utf8' && merged.textEncoding !== 'cp1251') throw new Error(`source ${source}: mysql.textEncoding must be utf8 or cp1251`);
  for (const t of [merged.companies, merged.contacts]) {
    for (const name of [t.table, t.key, t.updated]) {
      if (!/^[A-Za-z_][A-Za-z0-9_$]*$/.test(name)) throw new Error(`source ${source}: '${name}' is not a plain MySQL identifier`);
    }
  }
  return merged;
}

export function kafkaSource(config: Config, source: string): KafkaSourceConfig {
  const given = { ...BUILT_IN[source]?.kafka, ...config.sources[source]?.kafka };
  const timezone = config.sources[source]?.timezone;
  const merged = { ...KAFKA_DEFAULTS, groupId: 'b2b-etl', recordSource: source, ...(timezone ? { timezone } : {}), ...given };
  if (!merged.topic) throw new Error(`source ${source}: no kafka.topic configured (b2b-etl.config.json)`);
  checkChangeTime(`source ${source}: kafka`, merged.timezone, merged.updatedFormat);
  return merged as KafkaSourceConfig;
}

export function recordFields(config: Config, source: string, entity: Entity): RecordFields {
  const plural = entity === 'company' ? 'companies' : 'contacts';
  const configured = config.sources[source]?.[plural] ?? {};
  const timezone = config.sources[source]?.timezone;
  const fields = { ...DEFAULT_FIELDS, ...(timezone ? { timezone } : {}), ...configured };
  checkChangeTime(`source ${source}: ${plural}`, fields.timezone ?? '+00:00', fields.updatedFormat ?? 'iso');
  return fields;
}

function checkChangeTime(where: string, timezone: string, format: ChangeTimeFormat): void {
  try {
    offsetMinutes(timezone);
  } catch (e) {
    throw new Error(`${where}: ${(e as Error).message}`);
  }
  if (!CHANGE_TIME_FORMATS.includes(format)) throw new Error(`${where}: updatedFormat '${String(format)}': use ${CHANGE_TIME_FORMATS.join(', ')}`);
}
