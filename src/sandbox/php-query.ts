/**
 * PHP's parse_str, which the portal runs on form bodies, query strings and the query part of
 * every batch command (CORE-REST rest_util.php): `fields[PHONE][0][VALUE]=...` becomes
 * nested arrays, `a[]` appends, the last duplicate wins, and dots or spaces in the top-level
 * name become underscores.
 */

type Entries = Array<[string, unknown]>;
const ENTRIES = Symbol('php array');
interface PhpArray {
  [ENTRIES]: Entries;
}

const newArray = (): PhpArray => ({ [ENTRIES]: [] });
const isPhpArray = (v: unknown): v is PhpArray => typeof v === 'object' && v !== null && ENTRIES in v;

function decode(text: string): string {
  try {
    return decodeURIComponent(text.replaceAll('+', ' '));
  } catch {
    // PHP's urldecode leaves malformed escapes as they are
    return text.replaceAll('+', ' ');
  }
}

function nextIndex(entries: Entries): string {
  let max = -1;
  for (const [key] of entries) if (/^(0|-?[1-9]\d*)$/.test(key)) max = Math.max(max, Number(key));
  return String(max + 1);
}

function set(target: PhpArray, path: string[], value: string): void {
  let node = target;
  for (let i = 0; i < path.length; i++) {
    const entries = node[ENTRIES];
    const key = path[i] === '' ? nextIndex(entries) : path[i]!;
    const at = entries.findIndex(([k]) => k === key);
    if (i === path.length - 1) {
      if (at >= 0) entries[at]![1] = value;
      else entries.push([key, value]);
      return;
    }
    let child = at >= 0 ? entries[at]![1] : undefined;
    if (!isPhpArray(child)) {
      child = newArray();
      if (at >= 0) entries[at]![1] = child;
      else entries.push([key, child]);
    }
    node = child as PhpArray;
  }
}

/** PHP's max_input_nesting_level: a deeper name is dropped. */
export const MAX_NESTING = 64;

/** Splits `name[a][b][]` into `['name', 'a', 'b', '']` the way PHP does. */
function keyPath(rawKey: string): string[] | null {
  const key = rawKey.replace(/^ +/, '');
  const open = key.indexOf('[');
  const top = (open < 0 ? key : key.slice(0, open)).replace(/[. ]/g, '_');
  if (top === '') return null;
  const path = [top];
  let rest = open < 0 ? '' : key.slice(open);
  while (rest.startsWith('[')) {
    const close = rest.indexOf(']');
    if (close < 0) {
      // an unclosed first bracket makes the whole name plain (`a[b` is `a_b`); a later one ends the path
      return path.length === 1 ? [key.replace(/[. ]/g, '_').replace('[', '_')] : path;
    }
    path.push(rest.slice(1, close));
    if (path.length > MAX_NESTING + 1) return null;
    rest = rest.slice(close + 1);
  }
  return path;
}

/** A PHP array as the JSON the rest of the sandbox works with: 0..n-1 keys become a list. */
function toPlain(value: unknown): unknown {
  if (!isPhpArray(value)) return value;
  const entries = value[ENTRIES];
  if (entries.length > 0 && entries.every(([key], i) => key === String(i))) return entries.map(([, v]) => toPlain(v));
  return Object.fromEntries(entries.map(([k, v]) => [k, toPlain(v)]));
}

export function parseStr(query: string): Record<string, unknown> {
  const root = newArray();
  for (const pair of query.split('&')) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    const path = keyPath(decode(eq < 0 ? pair : pair.slice(0, eq)));
    if (!path) continue;
    set(root, path, eq < 0 ? '' : decode(pair.slice(eq + 1)));
  }
  const plain = toPlain(root);
  return Array.isArray(plain) ? { ...plain } : (plain as Record<string, unknown>);
}

/** A list of form fields (multipart) folded into nested params with the same key rules. */
export function fromFields(fields: Iterable<[string, string]>): Record<string, unknown> {
  const root = newArray();
  for (const [name, value] of fields) {
    const path = keyPath(name);
    if (path) set(root, path, value);
  }
  const plain = toPlain(root);
  return Array.isArray(plain) ? { ...plain } : (plain as Record<string, unknown>);
}

/** PHP's (bool) cast: `""`, `"0"`, `0`, `false`, `null` and empty arrays are false; the string `"false"` is true. */
export function phpTruthy(value: unknown): boolean {
  if (value === null || value === undefined || value === false || value === 0 || value === '' || value === '0') return false;
  if (Array.isArray(value)) return value.length > 0;
  if (typeof value === 'object') return Object.keys(value).length > 0;
  return true;
}
