import { existsSync, readFileSync } from 'node:fs';
import type { Entity } from './land/record.js';

/** Which payload fields carry a file source's key, change time and deletion flag. */
export interface RecordFields {
  key: string;
  updated: string;
  deleted?: string;
}

export interface SourceConfig {
  encoding?: 'utf8' | 'cp1251';
  companies?: Partial<RecordFields>;
  contacts?: Partial<RecordFields>;
}

export interface Config {
  sources: Record<string, SourceConfig>;
}

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
  return { sources: sources as Record<string, SourceConfig> };
}

export function recordFields(config: Config, source: string, entity: Entity): RecordFields {
  const configured = config.sources[source]?.[entity === 'company' ? 'companies' : 'contacts'] ?? {};
  return { ...DEFAULT_FIELDS, ...configured };
}
