import type pg from 'pg';
import type { Entity } from './record.js';

/** A source the warehouse has no mapping for: its records would land and be ignored by the transform. */
export class UnknownSourceError extends Error {}

/**
 * Refuses, before anything lands, a source and entity that no staging view maps
 * (staging.mapped_source lists them: one row per stg_<source>__<entity> view in the union
 * the transform reads), naming the sources that are mapped.
 */
export async function assertMappedSource(pool: pg.Pool | pg.PoolClient, source: string, entity: Entity): Promise<void> {
  const { rows } = await pool.query<{ source: string; entity: string }>(
    'select source, entity from staging.mapped_source order by source, entity');
  if (rows.some((r) => r.source === source && r.entity === entity)) return;
  const known = [...new Set(rows.filter((r) => r.entity === entity).map((r) => r.source))];
  const plural = entity === 'company' ? 'companies' : 'contacts';
  throw new UnknownSourceError(
    `unknown source '${source}' for ${plural}: the warehouse maps ${plural} of ${known.map((k) => `'${k}'`).join(', ') || 'no source'} ` +
    `(staging.mapped_source). Records landed under another name would be ignored by the transform; nothing was landed. ` +
    `Use one of those names, or add a mapping view sql/staging/stg_${source}__${plural}.sql to the union first.`,
  );
}

/** Sources read from MySQL and from Kafka: the built-in ones and those the config gives such settings. */
export function sourceKinds(config: { sources: Record<string, { mysql?: unknown; kafka?: unknown }> }): { mysql: string[]; kafka: string[] } {
  const mysql = new Set(['store_a']);
  const kafka = new Set(['store_b_events']);
  for (const [name, source] of Object.entries(config.sources)) {
    if (source.mysql) mysql.add(name);
    if (source.kafka) kafka.add(name);
  }
  return { mysql: [...mysql].sort(), kafka: [...kafka].sort() };
}

/**
 * A file landed under a MySQL source would replace its rows with records of another shape (and
 * the next sync would put them back); MySQL read under a file source would be mapped by the
 * wrong view. Each kind of source is landed its own way.
 */
export function assertSourceKind(config: Parameters<typeof sourceKinds>[0], source: string, landing: 'file' | 'mysql'): void {
  const kinds = sourceKinds(config);
  if (landing === 'file' && kinds.mysql.includes(source)) {
    throw new UnknownSourceError(`source '${source}' is read from MySQL (land mysql --source ${source}): a file landed under its name would ` +
      'replace its rows with records of another shape; nothing was landed');
  }
  if (landing === 'mysql' && !kinds.mysql.includes(source)) {
    throw new UnknownSourceError(`source '${source}' has no MySQL settings (sources.${source}.mysql in the config); the MySQL sources are ` +
      `${kinds.mysql.map((k) => `'${k}'`).join(', ')}; nothing was landed`);
  }
}
