import type { z } from 'zod';

/** A configuration the user must fix before anything runs: printed without a stack, exit code 2. */
export class ConfigError extends Error {}

/** A usage error (a bad argument, a source of the wrong kind): printed without a stack, exit code 2. */
export class UsageError extends Error {}

type Issue = z.core.$ZodIssue;
type AnySchema = z.core.$ZodType;

/**
 * JSON text checked against a schema. Every problem is reported at once, each with its
 * path (`sources.store_b.companies.key: expected a string, got 5`), under the file's name.
 */
export function parseWith<S extends z.ZodType>(schema: S, body: string, name: string): z.infer<S> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch (e) {
    throw new ConfigError(`${name}: not valid JSON${jsonErrorPlace(body, (e as Error).message)}: ${(e as Error).message}`);
  }
  const result = schema.safeParse(parsed, { reportInput: true });
  if (result.success) return result.data;
  const problems = result.error.issues.flatMap((issue) => describeIssue(issue, [], schema));
  throw new ConfigError(`${name}: ${problems.length} problem${problems.length === 1 ? '' : 's'}, nothing was run:\n  ${problems.join('\n  ')}`);
}

function describeIssue(issue: Issue, prefix: PropertyKey[], root: AnySchema): string[] {
  const path = [...prefix, ...issue.path];
  switch (issue.code) {
    case 'unrecognized_keys': {
      const known = knownKeys(root, path);
      return issue.keys.map((key) => `${formatPath([...path, key])}: unknown setting${known.length ? ` (${formatPath(path) || 'the top level'} takes ${known.join(', ')})` : ''}`);
    }
    case 'invalid_union': {
      // a branch that got the type right tells what is wrong inside it
      const closer = issue.errors.filter((branch) => !branch.every((i) => i.code === 'invalid_type' && i.path.length === 0));
      if (closer.length > 0) return closer[0]!.flatMap((i) => describeIssue(i, path, root));
      const expected = issue.errors.flatMap((branch) => branch.map((i) => (i.code === 'invalid_type' ? article(i.expected) : 'something else')));
      return [`${formatPath(path)}: expected ${[...new Set(expected)].join(' or ')}${got(issue.input)}`];
    }
    default:
      return [`${formatPath(path) || '(the whole file)'}: ${describeProblem(issue)}`];
  }
}

function describeProblem(issue: Issue): string {
  switch (issue.code) {
    case 'invalid_type':
      return issue.input === undefined ? `missing (expected ${article(issue.expected)})` : `expected ${article(issue.expected)}${got(issue.input)}`;
    case 'invalid_value':
      return `expected ${issue.values.map((v) => JSON.stringify(v)).join(' or ')}${got(issue.input)}`;
    case 'too_small':
      if (issue.origin === 'string') return 'must not be empty';
      return `must be ${issue.inclusive ? 'at least' : 'greater than'} ${String(issue.minimum)}${got(issue.input)}`;
    case 'too_big':
      return `must be ${issue.inclusive ? 'at most' : 'less than'} ${String(issue.maximum)}${got(issue.input)}`;
    case 'invalid_format':
      return `${issue.message}${got(issue.input)}`;
    default:
      return issue.message;
  }
}

/** The keys a strict object at `path` of the schema takes, for an unknown-key message. */
function knownKeys(schema: AnySchema, path: PropertyKey[]): string[] {
  let node: AnySchema | undefined = schema;
  for (const step of [...path, null]) {
    node = unwrap(node);
    if (!node) return [];
    const def = node._zod.def as unknown as Record<string, unknown>;
    if (step === null) return def.type === 'object' ? Object.keys(def.shape as object) : [];
    if (def.type === 'object') node = (def.shape as Record<string, AnySchema>)[String(step)];
    else if (def.type === 'record') node = def.valueType as AnySchema;
    else if (def.type === 'union') node = (def.options as AnySchema[]).map(unwrap).find((o) => (o?._zod.def as { type?: string }).type === 'object');
    else return [];
  }
  return [];
}

function unwrap(schema: AnySchema | undefined): AnySchema | undefined {
  let node = schema;
  for (let def = node?._zod.def as { type?: string; innerType?: AnySchema } | undefined;
    def && ['optional', 'default', 'nullable', 'prefault'].includes(def.type ?? '');
    def = node?._zod.def as typeof def) node = def.innerType;
  if ((node?._zod.def as { type?: string } | undefined)?.type === 'union') {
    const object = ((node!._zod.def as unknown as { options: AnySchema[] }).options).find((o) => (unwrap(o)?._zod.def as { type?: string }).type === 'object');
    if (object) return unwrap(object);
  }
  return node;
}

function formatPath(path: PropertyKey[]): string {
  return path.map((step, i) => {
    if (typeof step === 'number') return `[${step}]`;
    const name = String(step);
    return /^[A-Za-z_$][\w$-]*$/.test(name) ? `${i === 0 ? '' : '.'}${name}` : `[${JSON.stringify(name)}]`;
  }).join('');
}

function article(expected: string): string {
  if (expected === 'record') return 'an object keyed by name';
  if (expected === 'int') return 'a whole number';
  if (expected === 'object' || expected === 'array' || expected === 'integer') return `an ${expected}`;
  if (expected === 'boolean') return 'true or false';
  return `a ${expected}`;
}

function got(input: unknown): string {
  if (input === undefined) return '';
  if (input === null) return ', got null';
  if (Array.isArray(input)) return ', got an array';
  if (typeof input === 'object') return ', got an object';
  const shown = JSON.stringify(input);
  return `, got ${shown.length > 40 ? `${shown.slice(0, 40)}…` : shown}`;
}

/** " at line L, column C" from the parser's "position N", when it gives one. */
function jsonErrorPlace(body: string, message: string): string {
  const position = /position (\d+)/.exec(message);
  if (!position) return '';
  const before = body.slice(0, Number(position[1]));
  const line = before.split('\n').length;
  return ` at line ${line}, column ${before.length - before.lastIndexOf('\n')}`;
}
