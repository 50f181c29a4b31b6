import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type pg from 'pg';
import { generate, type GenerateOptions, type ManifestFile, type Truth } from '../../src/generate/index.js';
import { landManifest, useSampleWindow } from '../../src/generate/land-manifest.js';
import { runTransform } from '../../src/transform/run.js';
import { createTestDatabase, type TestDatabase } from './db.js';

export interface Sample {
  dir: string;
  manifest: ManifestFile[];
  truth: Truth;
}

/** Generated sample data in a fresh temporary folder. */
export async function makeSample(options: Omit<GenerateOptions, 'out'> = {}): Promise<Sample> {
  const dir = mkdtempSync(join(tmpdir(), 'b2b-etl-sample-'));
  const { manifest, truth } = await generate({ out: dir, ...options });
  return { dir, manifest, truth };
}

/** Sets the sample's load window and lands every file of it. */
export async function landSample(pool: pg.Pool, sample: Sample): Promise<void> {
  await useSampleWindow(pool, sample.truth.window_start);
  await landManifest(pool, sample.dir, sample.manifest, { quiet: true });
}

export function readTruth(dir: string): Truth {
  return JSON.parse(readFileSync(join(dir, 'truth.json'), 'utf8')) as Truth;
}

/** A fresh database with a generated small sample landed and transformed. */
export async function transformedSample(seed: number): Promise<{ db: TestDatabase; sample: Sample }> {
  const db = await createTestDatabase();
  const sample = await makeSample({ scale: 'small', seed });
  await landSample(db.pool, sample);
  await runTransform(db.pool);
  return { db, sample };
}
