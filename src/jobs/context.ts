import type pg from 'pg';
import type { RegistryConfig } from '../config.js';
import { DadataProvider } from '../registry/dadata.js';
import type { RegistryProvider } from '../registry/provider.js';
import { SnapshotProvider } from '../registry/snapshot.js';

/** What tasks share in one worker process. */
export interface JobContext {
  pool: pg.Pool;
  registry: RegistryConfig;
  provider: RegistryProvider;
  log: (line: string) => void;
}

/**
 * The configured provider. DaData's base URL and token come from the environment
 * (DADATA_URL, default https://suggestions.dadata.ru; DADATA_TOKEN) and are never printed.
 */
export function makeProvider(pool: pg.Pool, registry: RegistryConfig, env = process.env): RegistryProvider {
  if (registry.provider === 'snapshot') return new SnapshotProvider(pool);
  return new DadataProvider({
    baseUrl: env.DADATA_URL ?? 'https://suggestions.dadata.ru',
    token: env.DADATA_TOKEN ?? '',
    timeoutMs: registry.timeoutMs,
    connections: registry.concurrency,
  });
}
