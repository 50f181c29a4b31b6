import type pg from 'pg';
import type { Entity } from './record.js';

export interface FileKey {
  source: string;
  entity: Entity;
  path: string;
}

export interface LandedRange {
  first: number;
  last: number;
  /** md5 over the payload hashes of records 1 to last (null: landed before digests were kept). */
  digest: string | null;
}

/**
 * The record ranges of a file whose batches are committed, merged where they touch, in
 * file order: the first one starting at record 1 is what --resume may skip; any after a gap
 * were written in parallel past a batch that failed.
 */
export async function landedRanges(pool: pg.Pool, file: FileKey): Promise<LandedRange[]> {
  const { rows } = await pool.query<{ first_record: string; last_record: string; prefix_digest: string | null }>(
    `select first_record, last_record, prefix_digest from etl.file_progress
     where source = $1 and entity = $2 and file_path = $3 order by first_record`,
    [file.source, file.entity, file.path],
  );
  const ranges: LandedRange[] = [];
  for (const row of rows) {
    const first = Number(row.first_record);
    const last = Number(row.last_record);
    const open = ranges[ranges.length - 1];
    if (open && first <= open.last + 1) {
      if (last > open.last) Object.assign(open, { last, digest: row.prefix_digest });
    } else {
      ranges.push({ first, last, digest: row.prefix_digest });
    }
  }
  return ranges;
}
