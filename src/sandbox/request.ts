import type { IncomingMessage } from 'node:http';
import { fromFields, parseStr } from './php-query.js';

/** Bodies past this size are refused before parsing; the cloud's own cap is not documented. */
export const MAX_BODY_BYTES = 32 * 1024 * 1024;

/**
 * The body, or null when it is larger than MAX_BODY_BYTES. The rest of a large body is read
 * and dropped: leaving the loop early would destroy the socket before the answer is sent.
 */
export async function readBody(req: IncomingMessage): Promise<Buffer | null> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size <= MAX_BODY_BYTES) chunks.push(chunk as Buffer);
  }
  return size > MAX_BODY_BYTES ? null : Buffer.concat(chunks);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

async function bodyParams(contentType: string, body: Buffer): Promise<Record<string, unknown>> {
  if (body.length === 0) return {};
  const type = contentType.split(';')[0]!.trim().toLowerCase();
  if (type === 'application/json') {
    // the portal json-decodes and silently takes a failure for "no params" (rest_util.php getRequestData)
    try {
      const parsed: unknown = JSON.parse(body.toString('utf8'));
      if (Array.isArray(parsed)) return { ...parsed };
      return isPlainObject(parsed) ? parsed : {};
    } catch {
      return {};
    }
  }
  if (type === 'multipart/form-data') {
    try {
      const form = await new Response(new Uint8Array(body), { headers: { 'content-type': contentType } }).formData();
      const fields: Array<[string, string]> = [];
      form.forEach((value, name) => fields.push([name, typeof value === 'string' ? value : value.name]));
      return fromFields(fields);
    } catch {
      return {};
    }
  }
  // everything else goes through parse_str, as PHP reads a form body
  return parseStr(body.toString('utf8'));
}

/** The call's params: the query string and the body merged, the body winning (rest_util.php). */
export async function requestParams(req: IncomingMessage, url: URL, body: Buffer): Promise<Record<string, unknown>> {
  const query = parseStr(url.search.replace(/^\?/, ''));
  const fromBody = req.method === 'GET' ? {} : await bodyParams(req.headers['content-type'] ?? '', body);
  return { ...query, ...fromBody };
}
