import { batchCommands, splitCommand } from './batch.js';
import { isObject } from './methods/method.js';
import { parseStr } from './php-query.js';

const NUL = '\u0000';

/** The first key or value holding a NUL byte, named as PHP would (`fields[TITLE]`), or null. */
function firstNul(value: unknown, path: string): string | null {
  if (typeof value === 'string') return value.includes(NUL) ? path : null;
  const entries = Array.isArray(value) ? value.map((v, i) => [String(i), v] as const) : isObject(value) ? Object.entries(value) : [];
  for (const [key, child] of entries) {
    const at = path === '' ? key : `${path}[${key}]`;
    const found = key.includes(NUL) ? at : firstNul(child, at);
    if (found !== null) return found;
  }
  return null;
}

/**
 * Where a call's params hold a NUL byte (U+0000), or null. A batch's commands are looked into
 * too (`cmd[b]: fields[TITLE]`): their queries are decoded only when they run, and the whole
 * batch is refused before its first command.
 */
export function nulParameter(params: Record<string, unknown>, method: string): string | null {
  const found = firstNul(params, '');
  if (found !== null || method !== 'batch') return found;
  for (const [key, raw] of batchCommands(params)) {
    const inner = firstNul(parseStr(splitCommand(raw).query), '');
    if (inner !== null) return `cmd[${key}]: ${inner}`;
  }
  return null;
}

/** The same value with every NUL byte shown as U+FFFD, so the call log can keep what came. */
export function withoutNul(value: unknown): unknown {
  if (typeof value === 'string') return value.replaceAll(NUL, '\uFFFD');
  if (Array.isArray(value)) return value.map(withoutNul);
  if (isObject(value)) return Object.fromEntries(Object.entries(value).map(([k, v]) => [withoutNul(k), withoutNul(v)]));
  return value;
}
