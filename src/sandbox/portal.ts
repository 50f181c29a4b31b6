import pg from 'pg';
import { errors, RestError, type MethodResult } from './envelope.js';
import { OperatingLimiter, type OperatingState } from './limits.js';
import { METHODS, scopesOf } from './methods/index.js';
import type { MethodContext, Params, PortalSettings } from './methods/method.js';

export interface OperatingOptions {
  limitSeconds?: number;
  windowSeconds?: number;
  /** Simulated execution time charged per command: one figure for all, or by method name. */
  commandSeconds?: number | Record<string, number>;
  /**
   * Which method a batch is charged to. 'inner' (the default): the docs and the server code
   * (`$ignoreMethod=[batch]`) — each command under its own method, the batch itself free.
   * 'batch': JSSDK PR #539's measurement — the whole batch under `batch`, inner methods free.
   */
  charge?: 'inner' | 'batch';
}

/** What the webhook may call, and how a missing scope is answered. */
export interface WebhookAccess {
  scopes: readonly string[];
  /** insufficient_scope: 401 in the server code, 403 in the docs. */
  authErrorStatus: 401 | 403;
}

export interface Executed {
  answer: MethodResult;
  operating: OperatingState;
  processing: number;
}

/** Runs methods: the operating-time check before, one transaction, the charge after. */
export class Portal {
  readonly limiter: OperatingLimiter;
  readonly charge: 'inner' | 'batch';

  constructor(
    private readonly pool: pg.Pool,
    private readonly settings: PortalSettings,
    private readonly operating: OperatingOptions,
    private readonly access: WebhookAccess,
  ) {
    this.limiter = new OperatingLimiter({ limitSeconds: operating.limitSeconds ?? 480, windowSeconds: operating.windowSeconds ?? 600 });
    this.charge = operating.charge ?? 'inner';
  }

  static knows(method: string): boolean {
    return METHODS.has(method);
  }

  private simulatedSeconds(method: string): number | null {
    const configured = this.operating.commandSeconds;
    if (typeof configured === 'number') return configured;
    if (configured && configured[method] !== undefined) return configured[method]!;
    return null;
  }

  /**
   * Runs one method for the webhook `credential`. With `charged` false the operating limit is
   * neither checked nor fed (a command inside a batch charged to `batch`).
   */
  async execute(credential: string, userId: number, method: string, params: Params, charged = true): Promise<Executed> {
    const handler = METHODS.get(method);
    if (!handler) throw errors.methodNotFound();
    // checked for every command, so a batch cannot carry a method past its scope
    const needed = scopesOf(method);
    if (needed.length > 0 && !needed.some((scope) => this.access.scopes.includes(scope))) {
      throw errors.insufficientScope(this.access.authErrorStatus);
    }
    const key = `${credential} ${method}`;
    if (charged && this.limiter.blocked(key)) throw errors.operationTimeLimit();
    const started = performance.now();
    let simulated = this.simulatedSeconds(method);
    const client = await this.pool.connect();
    const ctx: MethodContext = {
      db: client,
      now: new Date(),
      userId,
      settings: this.settings,
      charge: (seconds) => (simulated = (simulated ?? 0) + seconds),
    };
    let answer: MethodResult;
    try {
      await client.query('begin');
      answer = await handler(ctx, params);
      await client.query('commit');
    } catch (e) {
      await client.query('rollback').catch(() => {});
      throw e instanceof RestError ? e : internalError(e);
    } finally {
      client.release();
    }
    const processing = simulated ?? (performance.now() - started) / 1000;
    if (charged) this.limiter.record(key, processing);
    return { answer, operating: this.limiter.state(key), processing };
  }

  /** The operating state of a method for a webhook, for the `time` block. */
  state(credential: string, method: string): OperatingState {
    return this.limiter.state(`${credential} ${method}`);
  }

  record(credential: string, method: string, seconds: number): void {
    this.limiter.record(`${credential} ${method}`, seconds);
  }

  blocked(credential: string, method: string): boolean {
    return this.limiter.blocked(`${credential} ${method}`);
  }
}

/** A database failure becomes the portal's `ERROR_CORE` "SQL query error!" 500 (restexception.php). */
function internalError(e: unknown): RestError {
  const error = new RestError(500, 'ERROR_CORE', 'SQL query error!');
  error.cause = e;
  return error;
}
