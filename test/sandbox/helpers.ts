import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, fetch, type Dispatcher, type FormData } from 'undici';
import { startSandbox, type Sandbox, type SandboxOptions } from '../../src/sandbox/index.js';

/** One certificate folder per test file: files made at once by two files would race. */
const certDir = mkdtempSync(join(tmpdir(), 'b2b-etl-sandbox-certs-'));

export interface Portal {
  sandbox: Sandbox;
  /** Trusts the sandbox's own certificate only. */
  dispatcher: Dispatcher;
  /** A call to the webhook: `path` is relative to it (`crm.company.add.json`), or absolute (`/rest/...`). */
  call(path: string, init?: RequestSpec): Promise<{ status: number; contentType: string; text: string; json: any }>;
  /** A JSON POST to a method; returns the parsed answer and status. */
  rest(method: string, params?: unknown): Promise<{ status: number; json: any }>;
  stop(): Promise<void>;
}

export interface RequestSpec {
  method?: 'GET' | 'POST';
  contentType?: string;
  body?: string | FormData;
  query?: string;
}

export async function startPortal(databaseUrl: string, options: Partial<SandboxOptions> = {}): Promise<Portal> {
  const sandbox = await startSandbox({ databaseUrl, certDir, log: () => {}, ...options });
  const dispatcher = new Agent({ connect: sandbox.certFile ? { ca: readFileSync(sandbox.certFile, 'utf8') } : {} });
  const call: Portal['call'] = async (path, init = {}) => {
    const base = path.startsWith('/') ? sandbox.url + path : sandbox.webhookUrl + path;
    const url = init.query ? `${base}?${init.query}` : base;
    const headers: Record<string, string> = {};
    if (init.contentType) headers['content-type'] = init.contentType;
    const response = await fetch(url, { method: init.method ?? 'POST', headers, body: init.body, dispatcher });
    const text = await response.text();
    let json: unknown = undefined;
    try {
      json = JSON.parse(text);
    } catch {
      // an HTML page or XML: the caller reads `text`
    }
    return { status: response.status, contentType: response.headers.get('content-type') ?? '', text, json };
  };
  return {
    sandbox,
    dispatcher,
    call,
    async rest(method, params = {}) {
      const { status, json } = await call(method, { contentType: 'application/json', body: JSON.stringify(params) });
      return { status, json };
    },
    async stop() {
      await sandbox.stop();
      await dispatcher.close();
    },
  };
}

/** The `time` block of every success (bitrix24-api.md section 1), written `"<time>"` in fixtures. */
const TIME = {
  start: '<number>', finish: '<number>', duration: '<number>', processing: '<number>', date_start: '<iso>', date_finish: '<iso>',
  operating_reset_at: '<int>', operating: '<number>',
};

/**
 * Compares an answer with a fixture's expected answer: objects must have exactly the
 * expected keys unless the fixture lists `"...": true`; strings `<int>`, `<number>`,
 * `<string>`, `<iso>`, `<any>` stand for any value of that kind, `<absent>` for a key that must not be there,
 * `<time>` for a success's time block; an array ending in "..."
 * matches a longer one. Returns the first difference, or null.
 */
export function difference(actual: unknown, expected: unknown, path = '$'): string | null {
  if (expected === '<time>') return difference(actual, TIME, path);
  if (typeof expected === 'string' && /^<(int|number|string|iso|any)>$/.test(expected)) {
    const ok = {
      '<int>': Number.isInteger(actual),
      '<number>': typeof actual === 'number',
      '<string>': typeof actual === 'string',
      '<iso>': typeof actual === 'string' && /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d$/.test(actual),
      '<any>': actual !== undefined,
    }[expected];
    return ok ? null : `${path}: expected ${expected}, got ${JSON.stringify(actual)}`;
  }
  if (Array.isArray(expected)) {
    if (!Array.isArray(actual)) return `${path}: expected an array, got ${JSON.stringify(actual)}`;
    const open = expected[expected.length - 1] === '...';
    const items = open ? expected.slice(0, -1) : expected;
    if (open ? actual.length < items.length : actual.length !== items.length) return `${path}: expected ${items.length}${open ? '+' : ''} items, got ${actual.length}`;
    for (const [i, item] of items.entries()) {
      const d = difference(actual[i], item, `${path}[${i}]`);
      if (d) return d;
    }
    return null;
  }
  if (typeof expected === 'object' && expected !== null) {
    if (typeof actual !== 'object' || actual === null || Array.isArray(actual)) return `${path}: expected an object, got ${JSON.stringify(actual)}`;
    const { '...': open, ...keys } = expected as Record<string, unknown>;
    for (const [key, value] of Object.entries(keys)) {
      if (value === '<absent>') {
        if (key in actual) return `${path}.${key}: expected no such key, got ${JSON.stringify((actual as Record<string, unknown>)[key])}`;
        continue;
      }
      if (!(key in actual)) return `${path}.${key}: missing`;
      const d = difference((actual as Record<string, unknown>)[key], value, `${path}.${key}`);
      if (d) return d;
    }
    if (!open) {
      const extra = Object.keys(actual).filter((k) => !(k in keys) || keys[k] === '<absent>');
      if (extra.length) return `${path}: unexpected keys ${extra.join(', ')}`;
    }
    return null;
  }
  return Object.is(actual, expected) ? null : `${path}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`;
}
