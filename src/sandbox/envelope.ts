/**
 * The portal's answer shapes (bitrix24-api.md section 1): the success envelope with its
 * `time` block, the error envelope without one, and the errors the REST layer raises.
 */

/** An error the portal answers with: `{"error": code, "error_description": description}`. */
export class RestError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    readonly description: string,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(`${code || '(empty code)'}: ${description}`);
  }

  body(): Record<string, unknown> {
    return { error: this.code, error_description: this.description, ...this.extra };
  }
}

/** Legacy crm.* validation and permission errors: an empty code and HTTP 400 (CORE-CRM restservice.php). */
export const crmError = (description: string) => new RestError(400, '', description);

export const errors = {
  methodNotFound: () => new RestError(404, 'ERROR_METHOD_NOT_FOUND', 'Method not found!'),
  noAuth: () => new RestError(401, 'NO_AUTH_FOUND', 'Wrong authorization data'),
  invalidCredentials: (status: number) => new RestError(status, 'INVALID_CREDENTIALS', 'Invalid request credentials'),
  insufficientScope: (status: number) => new RestError(status, 'insufficient_scope', 'The request requires higher privileges than provided by the webhook token'),
  queryLimit: () => new RestError(503, 'QUERY_LIMIT_EXCEEDED', 'Too many requests'),
  operationTimeLimit: () => new RestError(429, 'OPERATION_TIME_LIMIT', 'Method is blocked due to operation time limit'),
  overload: () => new RestError(503, 'OVERLOAD_LIMIT', 'REST API is blocked due to overload'),
  expiredToken: () => new RestError(401, 'expired_token', 'The access token provided has expired.'),
  httpsRequired: () => new RestError(400, 'INVALID_REQUEST', 'Https required.'),
  batchLength: () => new RestError(400, 'ERROR_BATCH_LENGTH_EXCEEDED', 'Max batch length exceeded'),
  batchMethodNotAllowed: () => new RestError(405, 'ERROR_BATCH_METHOD_NOT_ALLOWED', 'Method is not allowed for batch usage'),
  fieldsNotArray: () => crmError("Parameter 'fields' must be array."),
  notFound: () => crmError('Not found'),
  accessDenied: () => crmError('Access denied.'),
  idInvalid: () => crmError('ID is not defined or invalid.'),
  /**
   * A NUL byte (U+0000) in a parameter. The portal would most likely keep it (PHP strings and
   * MySQL hold NUL); PostgreSQL's text and jsonb cannot, so the sandbox refuses the call before
   * anything runs, in the REST layer's shape for a bad argument (ArgumentException:
   * ERROR_ARGUMENT with an `argument` key, HTTP 400). A 400 tells every client the call was
   * refused, not lost: SDKs do not retry a 4xx, and a pusher looks nothing up after it, where a
   * 500 after a commit would read as a lost answer.
   */
  nulByte: (argument: string) =>
    new RestError(400, 'ERROR_ARGUMENT', `Parameter ${argument.replaceAll('\u0000', '\\0')} holds a NUL byte (U+0000), which this portal cannot store`, { argument }),
  invalidEmail: () => new RestError(400, 'ERROR_CORE', 'Поле E-mail содержит некорректный адрес'),
};

/** What a method hands back: the value for `result`, and `next`/`total` for lists. */
export interface MethodResult {
  result: unknown;
  total?: number;
  next?: number;
}

export interface TimeBlock {
  start: number;
  finish: number;
  duration: number;
  processing: number;
  date_start: string;
  date_finish: string;
  operating_reset_at?: number;
  operating?: number;
}

/** ISO-8601 with the server's offset, as the portal writes `date_start` (`2026-05-14T10:26:32+02:00`). */
export function isoWithOffset(date: Date): string {
  const offset = -date.getTimezoneOffset();
  const sign = offset >= 0 ? '+' : '-';
  const abs = Math.abs(offset);
  const local = new Date(date.getTime() + offset * 60_000).toISOString().slice(0, 19);
  return `${local}${sign}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`;
}

export function timeBlock(startMs: number, finishMs: number, processingSeconds: number, operating?: { operating: number; resetAt: number }): TimeBlock {
  const block: TimeBlock = {
    start: startMs / 1000,
    finish: finishMs / 1000,
    duration: (finishMs - startMs) / 1000,
    processing: processingSeconds,
    date_start: isoWithOffset(new Date(startMs)),
    date_finish: isoWithOffset(new Date(finishMs)),
  };
  if (operating) {
    block.operating_reset_at = operating.resetAt;
    block.operating = operating.operating;
  }
  return block;
}

/** `next` and `total` move up beside `result` as integers (CORE-REST rest.php processCall). */
export function successBody(answer: MethodResult, time: TimeBlock): Record<string, unknown> {
  const body: Record<string, unknown> = { result: answer.result };
  if (answer.next !== undefined) body.next = answer.next;
  if (answer.total !== undefined) body.total = answer.total;
  body.time = time;
  return body;
}

/**
 * A PHP array as json_encode writes it: keys 0..n-1 in order give a JSON list, an empty
 * array gives `[]` (never `{}`), anything else an object.
 */
export function phpArray(entries: Array<[string, unknown]>): unknown {
  if (entries.length === 0) return [];
  if (entries.every(([key], i) => key === String(i))) return entries.map(([, value]) => value);
  return Object.fromEntries(entries);
}

/** The same data as the `.xml` form of a method wraps it in `<response>`. */
export function toXml(value: unknown, tag = 'response'): string {
  const name = /^[A-Za-z_][\w.-]*$/.test(tag) ? tag : 'item';
  if (value === null || value === undefined) return `<${name}/>`;
  if (typeof value !== 'object') {
    const text = String(value).replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');
    return `<${name}>${text}</${name}>`;
  }
  const entries = Array.isArray(value) ? value.map((v, i) => [`item${i}`, v] as const) : Object.entries(value);
  return `<${name}>${entries.map(([k, v]) => toXml(v, k)).join('')}</${name}>`;
}
