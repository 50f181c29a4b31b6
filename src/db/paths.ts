import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The project folder (holding package.json, sql/, migrations/), from src/ or dist/src/. */
export function projectRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json')) || !existsSync(join(dir, 'sql'))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error('cannot find the b2b-etl project folder (package.json beside sql/)');
    dir = parent;
  }
  return dir;
}
