import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { FormData } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SandboxOptions } from '../../src/sandbox/index.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { difference, startPortal, type RequestSpec } from './helpers.js';

/**
 * One test per quirk of the portal: each fixture in test/fixtures/bitrix24 was written from
 * shared/bitrix24-api.md (its `source` names the section) as request/answer pairs, and is
 * played against a fresh sandbox over HTTPS.
 */
interface Fixture {
  quirk: string;
  source: string;
  options?: Partial<SandboxOptions>;
  steps: Array<{
    request: { path: string; method: 'GET' | 'POST'; contentType?: string; body?: unknown; query?: string; form?: Array<[string, string]> };
    response: { status: number; body?: unknown; text?: string; contentType?: string };
  }>;
}

const folder = fileURLToPath(new URL('../fixtures/bitrix24/', import.meta.url));
const fixtures = readdirSync(folder).filter((f) => f.endsWith('.json')).sort()
  .map((file) => ({ file, fixture: JSON.parse(readFileSync(folder + file, 'utf8')) as Fixture }));

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db?.drop();
});

describe('the sandbox answers as the documentation says', () => {
  it('has a fixture for every quirk, each naming its source', () => {
    expect(fixtures.length).toBeGreaterThanOrEqual(30);
    for (const { fixture } of fixtures) expect(fixture.source).toMatch(/bitrix24-api\.md §\d/);
  });

  for (const { file, fixture } of fixtures) {
    it(`${file.replace(/\.json$/, '')}: ${fixture.quirk}`, async () => {
      const schema = `fx_${file.replace(/\.json$/, '').replaceAll('-', '_')}`;
      const portal = await startPortal(db.url, { schema, ...fixture.options });
      const secret = portal.sandbox.webhookUrl.split('/').at(-2)!;
      try {
        for (const [i, step] of fixture.steps.entries()) {
          const r = step.request;
          const init: RequestSpec = { method: r.method, contentType: r.contentType, query: r.query };
          if (r.form) {
            const form = new FormData();
            for (const [name, value] of r.form) form.append(name, value);
            init.body = form;
          } else if (r.body !== undefined) {
            init.body = typeof r.body === 'string' ? r.body : JSON.stringify(r.body);
          }
          const answer = await portal.call(r.path.replace('{secret}', secret), init);
          const where = `step ${i + 1} (${r.path})`;
          expect(answer.status, `${where}: ${answer.text.slice(0, 400)}`).toBe(step.response.status);
          if (step.response.contentType) expect(answer.contentType, where).toBe(step.response.contentType);
          if (step.response.text !== undefined) expect(answer.text.startsWith(step.response.text), `${where}: ${answer.text.slice(0, 200)}`).toBe(true);
          if (step.response.body !== undefined) expect(difference(answer.json, step.response.body), where).toBeNull();
        }
      } finally {
        await portal.stop();
      }
    });
  }
});
