import { join } from 'node:path';
import type pg from 'pg';
import { landFile } from '../land/file.js';
import { parseEntity } from '../land/record.js';
import type { ManifestFile } from './index.js';

/**
 * Lands every file of a generated manifest (the sample, or a round of changes) from `dir`,
 * in manifest order. Generated records carry their key in `id` and change time in `updated`.
 * Returns how many new versions were landed.
 */
export async function landManifest(pool: pg.Pool, dir: string, manifest: ManifestFile[], options: { quiet?: boolean } = {}): Promise<number> {
  let landed = 0;
  for (const file of manifest) {
    const result = await landFile(pool, {
      path: join(dir, file.file),
      source: file.source,
      entity: parseEntity(file.entity),
      encoding: file.encoding,
      jsonPath: file.jsonPath,
      fields: { key: 'id', updated: 'updated' },
      quiet: options.quiet,
    });
    landed += result.landed;
  }
  return landed;
}

/** A sample was exported on its as-of day; the load window follows from that day. */
export async function useSampleWindow(pool: pg.Pool, windowStart: string): Promise<void> {
  await pool.query(`update etl.setting set value = $1 where name = 'window_start'`, [windowStart]);
}
