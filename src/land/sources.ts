import type pg from 'pg';
import { isMysqlSource, type Config } from '../config.js';
import { entityPlural, type Entity } from './record.js';

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
  const plural = entityPlural(entity);
  throw new UnknownSourceError(
    `unknown source '${source}' for ${plural}: the warehouse maps ${plural} of ${known.map((k) => `'${k}'`).join(', ') || 'no source'} ` +
    `(staging.mapped_source). Records landed under another name would be ignored by the transform; nothing was landed. ` +
    `Use one of those names, or add a mapping view sql/staging/stg_${source}__${plural}.sql to the union first.`,
  );
}

/**
 * A file landed under a MySQL source would replace its rows with records of another shape (and
 * the next sync would put them back): a MySQL source is landed by land mysql only.
 */
export function assertFileSource(config: Config, source: string): void {
  if (isMysqlSource(config, source)) {
    throw new UnknownSourceError(`source '${source}' is read from MySQL (land mysql --source ${source}): a file landed under its name would ` +
      'replace its rows with records of another shape; nothing was landed');
  }
}
