import { errors, phpArray, RestError, timeBlock, type MethodResult } from './envelope.js';
import { isObject, type Params } from './methods/method.js';
import { parseStr, phpTruthy } from './php-query.js';
import type { Portal } from './portal.js';

/** CRestUtil::BATCH_MAX_LENGTH. */
export const BATCH_MAX_LENGTH = 50;

export interface BatchCommand {
  key: string;
  method: string;
  params: Params;
  error?: { error: string; error_description: string };
}

interface Outputs {
  result: Array<[string, unknown]>;
  error: Array<[string, unknown]>;
  total: Array<[string, unknown]>;
  next: Array<[string, unknown]>;
  time: Array<[string, unknown]>;
}

const REFERENCE = /\$(result|next|total|time|error)((?:\[[^\]]*\])+)/g;
const WHOLE_REFERENCE = /^\$(result|next|total|time|error)((?:\[[^\]]*\])+)$/;

/** Top-level keys are case-insensitive (`CMD`, `HALT`). */
function topLevel(params: Params, name: string): unknown {
  const key = Object.keys(params).find((k) => k.toLowerCase() === name);
  return key === undefined ? undefined : params[key];
}

/** Follows `[k1][ID]` into earlier outputs; a missing key stops at the last one that exists. */
function resolve(outputs: Outputs, kind: string, path: string): unknown {
  const part = { result: outputs.result, next: outputs.next, total: outputs.total, time: outputs.time, error: outputs.error }[kind]!;
  let node: unknown = Object.fromEntries(part);
  for (const key of [...path.matchAll(/\[([^\]]*)\]/g)].map((m) => m[1]!)) {
    if (Array.isArray(node) && node[Number(key)] !== undefined) node = node[Number(key)];
    else if (isObject(node) && key in node) node = node[key];
    else break;
  }
  return node;
}

/**
 * `$result[k1]` as a whole value is replaced by what it points at, arrays included; inside a
 * longer string it is replaced only when it points at a string (CRestUtil batch references).
 */
function substitute(value: unknown, outputs: Outputs): unknown {
  if (typeof value === 'string') {
    const whole = WHOLE_REFERENCE.exec(value);
    if (whole) return resolve(outputs, whole[1]!, whole[2]!);
    return value.replace(REFERENCE, (text, kind: string, path: string) => {
      const target = resolve(outputs, kind, path);
      return typeof target === 'string' ? target : text;
    });
  }
  if (Array.isArray(value)) return value.map((v) => substitute(v, outputs));
  if (isObject(value)) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, substitute(v, outputs)]));
  return value;
}

/** A batch's commands by key, as sent: `cmd` may be an object or an array (then keyed 0, 1, ...). */
export function batchCommands(params: Params): Array<[string, unknown]> {
  const cmd = topLevel(params, 'cmd');
  if (Array.isArray(cmd)) return cmd.map((c, i) => [String(i), c]);
  if (isObject(cmd)) return Object.entries(cmd);
  return [];
}

/** A command string's method (lower-cased) and its query. */
export function splitCommand(raw: unknown): { method: string; query: string } {
  const text = typeof raw === 'string' ? raw : '';
  const at = text.indexOf('?');
  return { method: (at < 0 ? text : text.slice(0, at)).trim().toLowerCase(), query: at < 0 ? '' : text.slice(at + 1) };
}

/**
 * Runs a batch: each command a `method?query` string parsed like a form, run in order with
 * the caller's rights, at most 50; `halt` stops after the first failure. Every part of the
 * answer is a PHP array, so an empty one is `[]`.
 */
export async function runBatch(portal: Portal, credential: string, userId: number, params: Params, log: BatchCommand[]): Promise<MethodResult> {
  const chargedToBatch = portal.charge === 'batch';
  if (chargedToBatch && portal.blocked(credential, 'batch')) throw errors.operationTimeLimit();
  const halt = phpTruthy(topLevel(params, 'halt'));
  let processing = 0;
  const outputs: Outputs = { result: [], error: [], total: [], next: [], time: [] };
  const fail = (command: BatchCommand, e: RestError) => {
    command.error = { error: e.code, error_description: e.description };
    outputs.error.push([command.key, command.error]);
  };
  for (const [position, [key, raw]] of batchCommands(params).entries()) {
    const { method, query } = splitCommand(raw);
    const command: BatchCommand = { key, method, params: {} };
    log.push(command);
    if (position >= BATCH_MAX_LENGTH) {
      fail(command, errors.batchLength());
      continue;
    }
    command.params = substitute(parseStr(query), outputs) as Params;
    const started = Date.now();
    try {
      if (method === 'batch') throw errors.batchMethodNotAllowed();
      const done = await portal.execute(credential, userId, method, command.params, !chargedToBatch);
      processing += done.processing;
      outputs.result.push([key, done.answer.result]);
      if (done.answer.total !== undefined) outputs.total.push([key, done.answer.total]);
      if (done.answer.next !== undefined) outputs.next.push([key, done.answer.next]);
      outputs.time.push([key, timeBlock(started, Date.now(), done.processing, chargedToBatch ? undefined : done.operating)]);
    } catch (e) {
      if (!(e instanceof RestError)) throw e;
      fail(command, e);
      if (halt) break;
    }
  }
  if (chargedToBatch) {
    // JSSDK #539: every sub-result carries the same cumulative `operating` of method `batch`
    portal.record(credential, 'batch', processing);
    const state = portal.state(credential, 'batch');
    for (const [, time] of outputs.time) Object.assign(time as object, { operating_reset_at: state.resetAt, operating: state.operating });
  }
  return {
    result: {
      result: phpArray(outputs.result),
      result_error: phpArray(outputs.error),
      result_total: phpArray(outputs.total),
      result_next: phpArray(outputs.next),
      result_time: phpArray(outputs.time),
    },
  };
}
