import { NoAnswerError, NotSentError, PortalError, UnreachablePortalError, type BatchAnswer, type Command, type RestAnswer, type RestTransport } from './rest.js';
import type { PortalPacing } from './pacing.js';
import { pause, StopRequestedError } from './stop.js';

/** The push cannot go on: a wrong or expired webhook, a missing right or scope, an unknown method, a portal blocked by support. */
export class PushStoppedError extends Error {
  /** Whether a later push may succeed by itself (a portal that went away), so a push is queued for it. */
  readonly worthRetrying: boolean = false;
}

/** BITRIX24_WEBHOOK_URL reaches another portal than the one a job was queued for: nothing is sent, and the job fails for a person to see. */
export class WrongPortalError extends PushStoppedError {}

/**
 * The portal went on refusing connections: the push stops sending; the request that met the
 * refusals was not sent, so nothing of it is left to look up.
 */
export class PortalGoneError extends PushStoppedError {
  readonly notSent = true;
  override readonly worthRetrying = true;
}

/** Whether an error means the request never reached the portal (a stop while it waited, refused connections). */
export const notSent = (e: unknown): boolean => (e as { notSent?: unknown } | null)?.notSent === true;

/** A write was sent and no answer came: it may or may not have been done. Never sent again blindly. */
export class UnknownOutcomeError extends Error {}

/** Codes after which nothing more is sent: only a person can fix them. */
const STOPPING_CODES = new Set(['NO_AUTH_FOUND', 'INVALID_CREDENTIALS', 'insufficient_scope', 'expired_token', 'invalid_token',
  'ERROR_METHOD_NOT_FOUND', 'OVERLOAD_LIMIT', 'INVALID_REQUEST', 'allowed_only_intranet_user', 'WRONG_AUTH_TYPE']);

/** Refused before it ran: sending it again cannot do anything twice. */
export const REFUSED_BEFORE_RUNNING = new Set(['QUERY_LIMIT_EXCEEDED', 'OPERATION_TIME_LIMIT']);

/** Why the push stops, in words a person can act on; null when the error is not one that stops it. */
export function stopReason(error: { status?: number; code: string; description: string; method?: string }): string | null {
  const { code, description } = error;
  if (code === 'ACCESS_DENIED' && error.status !== 400) return `the portal refuses REST calls: ${description} (ACCESS_DENIED)`;
  if (!STOPPING_CODES.has(code)) return null;
  switch (code) {
    case 'NO_AUTH_FOUND':
    case 'INVALID_CREDENTIALS':
    case 'invalid_token':
    case 'expired_token':
      return `the portal does not accept the webhook (${code}: ${description}): check BITRIX24_WEBHOOK_URL — the user id and secret as the portal shows them, and that the webhook was not deleted or expired`;
    case 'insufficient_scope':
      return `the webhook lacks the scope of ${error.method ?? 'a method'} (${description}): give the webhook the crm scope`;
    case 'ERROR_METHOD_NOT_FOUND':
      return `the portal has no method ${error.method ?? ''} (${description}): BITRIX24_WEBHOOK_URL may not point at a Bitrix24 portal's REST API`;
    case 'OVERLOAD_LIMIT':
      return `the portal's REST API is blocked for overload (${description}): a block set by Bitrix24 support; ask them to lift it`;
    case 'INVALID_REQUEST':
      return `the portal refuses the request: ${description} (use the https:// webhook URL)`;
    default:
      return `the portal refuses the webhook's user: ${code}: ${description}`;
  }
}

const READ_TRIES = 6;
/** Refused connections in a row before the portal is taken for gone (about 7 s of trying). */
const REFUSED_TRIES = 4;
const backoff = (attempt: number) => Math.random() * 1000 * 2 ** Math.min(attempt, 5);

/**
 * Calls to the portal within its limits (PortalPacing) and by its rules: reads are sent again
 * after no answer or a refusal; a write is sent again only when the portal refused it before
 * running (503 QUERY_LIMIT_EXCEEDED, 429 OPERATION_TIME_LIMIT) — after no answer its outcome
 * is unknown (UnknownOutcomeError) and the caller looks before it sends anything again.
 * Errors only a person can fix stop the push (PushStoppedError).
 */
export class PortalClient {
  /** Commands sent in batches (a measure of throughput: the ceiling is drain × 50 a second). */
  commands = 0;

  constructor(
    private readonly transport: RestTransport, readonly pacing: PortalPacing, private readonly log: (line: string) => void = () => {},
    private readonly signal?: AbortSignal,
  ) {}

  /** Connections refused in a row (by any request): the portal went away once it reaches REFUSED_TRIES. */
  private refusedInARow = 0;

  async read(method: string, params: Record<string, unknown>): Promise<RestAnswer> {
    for (let attempt = 1; ; attempt++) {
      await this.pacing.slot(new Map([[method, 1]]));
      try {
        const answer = await this.transport.post(method, params);
        this.refusedInARow = 0;
        await this.pacing.observe(method, answer.time, 1, ownSeconds(answer.time));
        return answer;
      } catch (e) {
        await this.afterFailure(e, method, attempt, true);
      }
    }
  }

  /** A batch of reads: sent again whole when it gets no answer (nothing in it changes the portal). */
  async readBatch(commands: readonly Command[]): Promise<BatchAnswer> {
    return this.sendBatch(commands, true);
  }

  /**
   * A batch that writes: sent again only when refused before it ran. `sending(true)` is awaited
   * right before each time it goes out, `sending(false)` when it turned out it never left (a
   * refused connection): only what may have reached the portal is ever looked up.
   */
  async writeBatch(commands: readonly Command[], units?: ReadonlyMap<string, number>, sending?: (sent: boolean) => Promise<void>): Promise<BatchAnswer> {
    return this.sendBatch(commands, false, units, sending);
  }

  private async sendBatch(commands: readonly Command[], readOnly: boolean, units?: ReadonlyMap<string, number>, sending?: (sent: boolean) => Promise<void>): Promise<BatchAnswer> {
    const answer = await this.sendOnce(commands, readOnly, units, sending);
    if (!readOnly) return answer;
    // reads the portal refused before running them (a method over its time) are sent again
    for (let round = 1; round <= READ_TRIES * 5; round++) {
      const refused = commands.filter((c) => REFUSED_BEFORE_RUNNING.has(answer.errors.get(c.key)?.code ?? ''));
      if (refused.length === 0) break;
      const again = await this.sendOnce(refused, true, units);
      for (const c of refused) {
        answer.errors.delete(c.key);
        const error = again.errors.get(c.key);
        if (error) answer.errors.set(c.key, error);
        if (again.results.has(c.key)) answer.results.set(c.key, again.results.get(c.key));
        if (again.totals.has(c.key)) answer.totals.set(c.key, again.totals.get(c.key)!);
      }
    }
    return answer;
  }

  private async sendOnce(commands: readonly Command[], readOnly: boolean, units?: ReadonlyMap<string, number>, sending?: (sent: boolean) => Promise<void>): Promise<BatchAnswer> {
    const perMethod = new Map<string, number>([['batch', 1]]);
    for (const c of commands) perMethod.set(c.method, (perMethod.get(c.method) ?? 0) + (units?.get(c.key) ?? 1));
    for (let attempt = 1; ; attempt++) {
      await this.pacing.slot(perMethod);
      await sending?.(true);
      try {
        const answer = await this.transport.batch(commands);
        this.refusedInARow = 0;
        this.commands += commands.length;
        await this.observeBatch(commands, answer, units);
        await this.refusedInside(commands, answer);
        return answer;
      } catch (e) {
        // a refused connection sent nothing; an error the portal answered for the batch itself
        // (its limits, the webhook, a block) means none of its commands ran
        if (e instanceof NotSentError || (e instanceof PortalError && (e.status < 500 || REFUSED_BEFORE_RUNNING.has(e.code) || e.code === 'OVERLOAD_LIMIT'))) {
          await sending?.(false);
        }
        await this.afterFailure(e, 'batch', attempt, readOnly);
      }
    }
  }

  /**
   * Commands the portal refused inside a batch that it answered (it refuses a method over its
   * execution time per command when it charges inner methods): the method waits, as after a 429.
   */
  private async refusedInside(commands: readonly Command[], answer: BatchAnswer): Promise<void> {
    const blocked = new Set<string>();
    let bucket = false;
    for (const c of commands) {
      const code = answer.errors.get(c.key)?.code;
      if (code === 'OPERATION_TIME_LIMIT') blocked.add(c.method);
      if (code === 'QUERY_LIMIT_EXCEEDED') bucket = true;
    }
    for (const method of blocked) {
      this.log(`push: the portal refused ${method} for its execution time (OPERATION_TIME_LIMIT); it waits until the window frees`);
      await this.pacing.methodBlocked(method);
    }
    if (bucket) await this.pacing.bucketFull();
  }

  /**
   * Each command's time is charged to its own method (the docs; the portal may charge `batch`
   * instead, then both are watched): the method's latest cumulative reading, and the seconds
   * its commands took themselves, per unit, for the cost.
   */
  private async observeBatch(commands: readonly Command[], answer: BatchAnswer, units?: ReadonlyMap<string, number>): Promise<void> {
    const byMethod = new Map<string, { time: BatchAnswer['time']; units: number; seconds: number }>();
    for (const c of commands) {
      const time = answer.times.get(c.key);
      const seen = byMethod.get(c.method);
      const cumulative = time?.operating ?? -1;
      byMethod.set(c.method, {
        time: seen && (seen.time?.operating ?? -1) > cumulative ? seen.time : time,
        units: (seen?.units ?? 0) + (units?.get(c.key) ?? 1),
        seconds: (seen?.seconds ?? 0) + (ownSeconds(time) ?? 0),
      });
    }
    for (const [method, { time, units: n, seconds }] of byMethod) await this.pacing.observe(method, time, n, seconds);
    // a batch's own time is how long the portal takes to answer one: it bounds a push's pace too
    await this.pacing.observe('batch', answer.time, 1, answer.time?.duration);
  }

  /** Decides after a failed request: wait and send again, stop the push, or report an unknown outcome. */
  private async afterFailure(e: unknown, method: string, attempt: number, readOnly: boolean): Promise<void> {
    if (e instanceof StopRequestedError) throw e;
    if (e instanceof UnreachablePortalError) throw new PushStoppedError(e.message); // nothing was sent: nothing to look up
    if (e instanceof NotSentError) {
      // nothing left this machine: sending it again is safe, a few times; then the portal has gone away
      this.refusedInARow += 1;
      if (this.refusedInARow >= REFUSED_TRIES) {
        throw new PortalGoneError(`the portal stopped answering: ${e.message}, ${this.refusedInARow} times in a row; the push stops sending ` +
          '(what it had not sent is left for the next push)');
      }
      if (this.refusedInARow === 1) this.log(`push: ${e.message}; trying again`);
      await pause(500 * 2 ** (this.refusedInARow - 1), this.signal);
      return;
    }
    if (e instanceof PortalError) {
      const reason = stopReason(e);
      if (reason) throw new PushStoppedError(reason);
      if (e.code === 'QUERY_LIMIT_EXCEEDED') {
        if (attempt === 1 || attempt % 10 === 0) this.log(`push: the portal refused a request for its request limit (503 QUERY_LIMIT_EXCEEDED, ${attempt} in a row); backing off`);
        await this.pacing.bucketFull();
        await pause(backoff(attempt), this.signal);
        return;
      }
      if (e.code === 'OPERATION_TIME_LIMIT') {
        this.log(`push: the portal refused ${method} for its execution time (429 OPERATION_TIME_LIMIT); it waits until the window frees`);
        await this.pacing.methodBlocked(method);
        return;
      }
      if (e.status < 500) throw e; // a request the portal read and refused: sending it again changes nothing
    }
    if (!(e instanceof NoAnswerError) && !(e instanceof PortalError)) throw e;
    if (!readOnly) throw new UnknownOutcomeError(`${(e as Error).message}; what it wrote is looked up before anything is sent again`);
    if (attempt >= READ_TRIES) throw e;
    await pause(backoff(attempt), this.signal);
  }

  async close(): Promise<void> {
    await this.transport.close();
  }
}

/** The seconds a call took at the portal itself, as its time block says (processing, else duration). */
function ownSeconds(time: BatchAnswer['time']): number | undefined {
  return time?.processing ?? time?.duration;
}
