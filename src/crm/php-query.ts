/**
 * Parameters as a PHP query string (http_build_query): nested objects and arrays as
 * `fields[PHONE][0][VALUE]=…`, every value URL-encoded once. This is the form a command
 * inside a `batch` takes (`crm.company.add?fields[TITLE]=…`): the portal reads it with
 * parse_str, and a `$result[key][…]` value is substituted after decoding.
 * null, undefined and empty arrays are left out, as http_build_query leaves them.
 */
export function phpQuery(params: Record<string, unknown>): string {
  const parts: string[] = [];
  const add = (key: string, value: unknown): void => {
    if (value === null || value === undefined) return;
    if (Array.isArray(value)) {
      value.forEach((item, i) => add(`${key}[${i}]`, item));
      return;
    }
    if (typeof value === 'object') {
      for (const [name, item] of Object.entries(value as Record<string, unknown>)) add(`${key}[${encodeKey(name)}]`, item);
      return;
    }
    const text = typeof value === 'boolean' ? (value ? '1' : '0') : String(value);
    parts.push(`${key}=${encodeURIComponent(text)}`);
  };
  for (const [name, value] of Object.entries(params)) add(encodeKey(name), value);
  return parts.join('&');
}

/** A key segment: brackets stay as they are, anything else that needs it is encoded. */
function encodeKey(name: string): string {
  return encodeURIComponent(name);
}
