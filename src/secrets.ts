/**
 * Secrets never reach a message. Each comes from the environment; this module knows which
 * variables hold one and where a URL keeps it, and masks it in any text: by value (whatever
 * a library quotes back) and by shape (a URL's password however it got into the text).
 */

const MASK = '***';

/** Variables whose whole value is a secret. */
const SECRET_VARIABLES = ['DADATA_TOKEN', 'KAFKA_SASL_PASSWORD', 'PGPASSWORD', 'MYSQL_PWD'];

/** Variables holding a URL with a password in it (userinfo or query) or a secret path segment. */
const URL_VARIABLES = ['DATABASE_URL', 'MYSQL_URL', 'BITRIX24_WEBHOOK_URL'];

/** Variables listing brokers as host:port, where a USER:PASSWORD@ written by mistake must never be echoed. */
const BROKER_VARIABLES = ['KAFKA_BROKERS'];

/** Query parameters that carry a secret: password, sslpassword, password1 (MySQL MFA), token… */
const SECRET_PARAMETER = /pass|pwd|secret|token/i;

/** Bitrix24's inbound webhook: https://portal/rest/<user id>/<secret>/<method> */
const WEBHOOK_PATH = /^(\/rest\/\d+\/)([^/]+)/;

/** Shorter values are masked where a URL puts them, not wherever the letters occur. */
const SHORTEST_MASKED_VALUE = 4;

/** The secret values a URL holds, as written in it and decoded. */
export function secretsOfUrl(url: string): string[] {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    // not a URL to the parser (a / in the password), but a client may still read it
    const password = writtenPassword(url);
    return password ? [password] : [];
  }
  const found: string[] = [];
  if (parsed.password) found.push(parsed.password);
  for (const [name, value] of parsed.searchParams) if (SECRET_PARAMETER.test(name) && value) found.push(value);
  const raw = /[?&][^=&#]+=([^&#]*)/g;
  for (const match of parsed.search.matchAll(raw)) {
    const name = match[0].slice(1, match[0].indexOf('='));
    if (SECRET_PARAMETER.test(name) && match[1]) found.push(match[1]);
  }
  const webhook = WEBHOOK_PATH.exec(parsed.pathname);
  if (webhook) found.push(webhook[2]!);
  return [...new Set(found.flatMap((value) => [value, safeDecode(value)]))];
}

/** The passwords written into a broker list's entries (USER:PASSWORD@HOST:PORT, with or without a scheme). */
export function secretsOfBrokers(list: string): string[] {
  return list.split(',').flatMap((entry) => writtenPassword(entry) ?? []);
}

/** The password of [SCHEME://]USER:PASSWORD@HOST as written: up to the last @, since a password may hold @ and /. */
function writtenPassword(text: string): string | null {
  return /^\s*(?:[a-z][a-z0-9+.-]*:\/\/)?[^:@/]*:(.*)@[^@]*$/i.exec(text)?.[1] || null;
}

/** Every secret the environment holds, longest first (so a longer one is masked whole). */
export function environmentSecrets(env: NodeJS.ProcessEnv = process.env): string[] {
  const values = new Set<string>();
  for (const name of SECRET_VARIABLES) if (env[name]) values.add(env[name]!);
  for (const name of URL_VARIABLES) if (env[name]) for (const value of secretsOfUrl(env[name]!)) values.add(value);
  for (const name of BROKER_VARIABLES) if (env[name]) for (const value of secretsOfBrokers(env[name]!)) values.add(value);
  return [...values].filter((v) => v.length >= SHORTEST_MASKED_VALUE).sort((a, b) => b.length - a.length);
}

/** The URL with its password, secret query parameters and webhook secret masked. */
export function maskUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return maskShapes(url);
  }
  if (parsed.password) parsed.password = MASK;
  const webhook = WEBHOOK_PATH.exec(parsed.pathname);
  if (webhook) parsed.pathname = parsed.pathname.replace(WEBHOOK_PATH, `$1${MASK}`);
  // the query is rewritten by hand: URLSearchParams would re-encode every other parameter
  const search = parsed.search.replace(/([?&])([^=&#]+)=([^&#]*)/g, (whole, lead: string, name: string) =>
    SECRET_PARAMETER.test(safeDecode(name)) ? `${lead}${name}=${MASK}` : whole);
  return parsed.toString().replace(parsed.search, search).replace(`:${encodeURIComponent(MASK)}@`, `:${MASK}@`);
}

/** Text with every secret of the environment, and anything shaped like one, masked. */
export function mask(text: string, env: NodeJS.ProcessEnv = process.env): string {
  let out = text;
  for (const secret of environmentSecrets(env)) out = out.split(secret).join(MASK);
  return maskShapes(out);
}

/**
 * Secrets recognised by where they stand: URL userinfo, a broker's USER:PASSWORD@HOST:PORT,
 * secret query parameters and libpq's keyword=value (quoted or not), webhook paths, tokens in headers.
 */
function maskShapes(text: string): string {
  return text
    .replace(/(\b[a-z][a-z0-9+.-]*:\/\/[^\s:/@]*:)\S*@/gi, `$1${MASK}@`)
    .replace(/(^|[\s,'"(])([^\s:/@,'"()]+:)[^\s/,'"]*@(?=[A-Za-z0-9.-]+:\d)/g, `$1$2${MASK}@`)
    .replace(/(^|[?&;\s])([^\s=&?#;]+)=('(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|[^\s&#;'"]*)/g, (whole, lead: string, name: string) =>
      SECRET_PARAMETER.test(name) ? `${lead}${name}=${MASK}` : whole)
    .replace(/(\/rest\/\d+\/)[^/\s]+(?=\/)/g, `$1${MASK}`)
    .replace(/\b(Token|Bearer)\s+[A-Za-z0-9._~+/=-]{8,}/g, `$1 ${MASK}`);
}

/**
 * Where a database URL points, safe to print: host:port/database and the user, for
 * messages that must say what was tried. Query parameters (host, port, user) win, as
 * they do for the PostgreSQL client.
 */
export function describeServer(url: string, defaultPort: number): string {
  if (!URL.canParse(url)) {
    const keywords = conninfoKeywords(url);
    return keywords ? serverText(keywords.host ?? 'localhost', keywords.port ?? String(defaultPort), keywords.dbname ?? '', keywords.user ?? '')
      : '(an unparseable URL)';
  }
  const parsed = new URL(url);
  const q = parsed.searchParams;
  const host = q.get('host') ?? (parsed.hostname || 'localhost');
  const port = q.get('port') ?? (parsed.port || String(defaultPort));
  const database = safeDecode(parsed.pathname.replace(/^\//, ''));
  const user = q.get('user') ?? safeDecode(parsed.username);
  return serverText(host, port, database, user);
}

function serverText(host: string, port: string, database: string, user: string): string {
  return `${host.startsWith('/') ? `socket ${host}` : `${host}:${port}`}${database ? `/${database}` : ''}${user ? ` as ${user}` : ''}`;
}

/** libpq's keyword=value connection string (host=h port=5432 dbname=d password='…'), or null when it is not one. */
function conninfoKeywords(text: string): Record<string, string> | null {
  const pair = /\s*([A-Za-z_]+)\s*=\s*('(?:[^'\\]|\\.)*'|[^\s']+)\s*/y;
  const found: Record<string, string> = {};
  for (let match; pair.lastIndex < text.length;) {
    if (!(match = pair.exec(text))) return null;
    const value = match[2]!;
    found[match[1]!] = value.startsWith("'") ? value.slice(1, -1).replace(/\\(.)/g, '$1') : value;
  }
  return Object.keys(found).length > 0 ? found : null;
}

function safeDecode(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}
