import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { hostname } from 'node:os';
import { Logger, makeWorkerUtils, run, runOnce, type LogFunctionFactory, type ParsedCronItem, type TaskList, type WorkerEvents } from 'graphile-worker';
import type pg from 'pg';
import type { RegistryConfig } from '../config.js';
import { activePause, REGISTRY_FLAG, RegistryPausedError } from '../registry/pause.js';
import { RegistryConfigError, TransientRegistryError, type RegistryProvider } from '../registry/provider.js';
import { makeProvider, type JobContext } from './context.js';
import { registryCheckTask } from './tasks/registry-check.js';
import { registryRefreshTask } from './tasks/registry-refresh.js';
import { crmPushTask } from './tasks/crm-push.js';
import { TRANSFORM_JOB } from './chain.js';
import { cronItems } from './crontab.js';
import { landMysqlTask } from './tasks/land-mysql.js';
import { pushSweepTask } from './tasks/push-sweep.js';
import { transformTask } from './tasks/transform.js';

/** Without a worker section: the registry refresh daily at 03:15 UTC, the push sweep every 10 minutes. */
const DEFAULT_SCHEDULE = { sync: {}, registryRefresh: '15 3 * * *', pushSweep: '* * * * *' };

export interface WorkerOptions {
  pool: pg.Pool;
  registry: RegistryConfig;
  log: (line: string) => void;
  /** Jobs at once in this process (the registry's concurrency by default). */
  concurrency?: number;
  /** A worker process silent this long is taken for dead and its jobs are unlocked. */
  staleSeconds?: number;
  /** Only these tasks' jobs (all by default); the others stay queued. */
  tasks?: readonly TaskName[];
  /** The schedule (cronItems); the default one without. */
  cron?: ParsedCronItem[];
}

/**
 * Unlocks jobs held by a locker no live worker process claims: a process that stopped
 * saying it is alive (kill -9, a lost machine) or died before it could say which pool it
 * runs. Only locks older than `staleSeconds` are considered, so a live process has had
 * time to record its pool. Returns how many lockers were released.
 */
export async function unlockDeadWorkers(pool: pg.Pool, staleSeconds: number): Promise<number> {
  await pool.query(`delete from etl.worker_process where seen_at < now() - make_interval(secs => $1)`, [staleSeconds]);
  const { rows } = await pool.query<{ locked_by: string }>(
    `select distinct j.locked_by from graphile_worker.jobs j
     where j.locked_by is not null and j.locked_at < now() - make_interval(secs => $1)
       and not exists (select from etl.worker_process p where j.locked_by = any (p.worker_ids))`, [staleSeconds]);
  const ids = rows.map((r) => r.locked_by);
  if (ids.length > 0) {
    // A job whose key a newer job took while it ran (a landing queued the transform again)
    // has no key and no attempts left: graphile-worker meant to let it finish, never to run it
    // again. Its process died, the newer job does its work: it is done, not failed.
    const { rows: superseded } = await pool.query<{ id: string }>(
      `select id from graphile_worker.jobs
       where locked_by = any($1) and key is null and attempts >= max_attempts and task_identifier = any($2)`,
      [ids, KEYED_TASKS]);
    const utils = await makeWorkerUtils({ pgPool: pool, logger: new Logger(() => () => {}) });
    try {
      await utils.forceUnlockWorkers(ids);
      // (graphile-worker completes only a job no one holds)
      if (superseded.length > 0) await utils.completeJobs(superseded.map((r) => r.id));
    } finally {
      await utils.release();
    }
  }
  return ids.length;
}

/** Says every few seconds that this process and its graphile-worker pools (the job lockers) are alive. */
function heartbeat(pool: pg.Pool, workerIds: Set<string>, staleSeconds: number, log: (line: string) => void): () => Promise<void> {
  const processId = randomUUID();
  const beat = async () => {
    await pool.query(
      `insert into etl.worker_process (process_id, worker_ids, host, pid) values ($1, $2, $3, $4)
       on conflict (process_id) do update set worker_ids = excluded.worker_ids, seen_at = now()`,
      [processId, [...workerIds], hostname(), process.pid]);
    const dead = await unlockDeadWorkers(pool, staleSeconds);
    if (dead > 0) log(`worker: unlocked the jobs of ${dead} dead worker pool(s) (no heartbeat for ${staleSeconds}s)`);
  };
  const timer = setInterval(() => beat().catch((e: Error) => log(`worker: heartbeat failed: ${e.message}`)), Math.max(staleSeconds * 250, 500));
  void beat().catch((e: Error) => log(`worker: heartbeat failed: ${e.message}`));
  return async () => {
    clearInterval(timer);
    await pool.query('delete from etl.worker_process where process_id = $1', [processId]).catch(() => {});
  };
}

/** Tasks whose every job is queued under a job key (replaced, never doubled). */
const KEYED_TASKS: readonly string[] = ['transform', 'crm_push', 'land_mysql', 'push_sweep'];

export type TaskName = 'registry_check' | 'registry_refresh' | 'transform' | 'crm_push' | 'land_mysql' | 'push_sweep';

/** What `enrich` and the demo run: everything but the push, which writes to a CRM only when asked (`push`, `worker`). */
export const WAREHOUSE_TASKS: readonly TaskName[] = ['registry_check', 'registry_refresh', 'transform'];

/** The tasks, or those named: graphile-worker fetches only jobs of the tasks it was given, the rest wait for another runner. */
function taskList(ctx: JobContext, only?: readonly TaskName[]): TaskList {
  const all: Record<TaskName, TaskList[string]> = {
    registry_check: registryCheckTask(ctx),
    registry_refresh: registryRefreshTask(ctx),
    transform: transformTask(ctx),
    crm_push: crmPushTask(ctx),
    land_mysql: landMysqlTask(ctx),
    push_sweep: pushSweepTask(ctx),
  };
  return Object.fromEntries(Object.entries(all).filter(([name]) => !only || only.includes(name as TaskName)));
}

function logger(log: (line: string) => void): Logger {
  const factory: LogFunctionFactory = (scope) => (level, message, meta) => {
    // one line per finished job would drown the rest; failures and warnings still show
    if (level === 'debug' || (level === 'info' && /^Completed task/.test(message))) return;
    const error = (meta as { error?: unknown } | undefined)?.error;
    // a paused provider is said once, by the check that paused it, not once per company
    if (error instanceof RegistryPausedError) return;
    // a registry that failed a check: its message says what; a stack trace would not
    if (error instanceof TransientRegistryError || error instanceof RegistryConfigError) message = message.split('\n')[0]!.replace(/:$/, '');
    // graphile-worker reports each failed attempt; ours carry the reason already
    log(`worker${scope.taskIdentifier ? ` ${scope.taskIdentifier}` : ''}${scope.jobId ? ` #${scope.jobId}` : ''}: ${message}`);
  };
  return new Logger(factory);
}

/**
 * What a runner in this process needs: the tasks with their shared context, the options
 * both runners take, and the heartbeat that records its pools; `close` ends the heartbeat
 * and the provider's connections.
 */
/**
 * graphile-worker asks before each fetch which flags to skip: registry jobs while the
 * provider is paused, so a worker neither calls the registry nor spends the jobs' attempts.
 * Asked every time (one row by key): a cached answer lets a fast drain take every queued
 * job in the moment after a pause begins.
 */
function registryGate(pool: pg.Pool, provider: RegistryProvider, log: (line: string) => void): () => Promise<string[] | null> {
  return () => activePause(pool, provider.name, provider.fingerprint, log).then((p) => (p ? [REGISTRY_FLAG] : null), () => null);
}

function prepare(o: WorkerOptions) {
  const ctx: JobContext = { pool: o.pool, registry: o.registry, provider: makeProvider(o.pool, o.registry), log: o.log };
  const workerIds = new Set<string>();
  const events = new EventEmitter() as WorkerEvents;
  events.on('pool:create', ({ workerPool }) => workerIds.add(workerPool.id));
  const stopBeating = heartbeat(o.pool, workerIds, o.staleSeconds ?? o.registry.workerStaleSeconds, o.log);
  return {
    options: {
      events,
      pgPool: o.pool,
      taskList: taskList(ctx, o.tasks),
      forbiddenFlags: registryGate(o.pool, ctx.provider, o.log),
      concurrency: o.concurrency ?? o.registry.concurrency,
      noHandleSignals: true,
      logger: logger(o.log),
    },
    async close() {
      await stopBeating();
      await ctx.provider.close();
    },
  };
}

/** `b2b-etl worker`: runs jobs until SIGTERM/SIGINT, and what its schedule queues. */
export async function runWorker(o: WorkerOptions): Promise<{ stop(): Promise<void>; done: Promise<void> }> {
  const prepared = prepare(o);
  const runner = await run({ ...prepared.options, parsedCronItems: o.cron ?? cronItems(DEFAULT_SCHEDULE), pollInterval: 100 }).catch(async (e: unknown) => {
    await prepared.close();
    throw e;
  });
  const done = runner.promise.finally(() => prepared.close());
  return { stop: () => runner.stop(), done };
}

/** `b2b-etl enrich`: runs the queued jobs in this process and returns when none is left. */
export async function drainQueue(o: WorkerOptions): Promise<void> {
  const prepared = prepare(o);
  try {
    await runOnce(prepared.options);
  } finally {
    await prepared.close();
  }
}

/**
 * A runner of the transform jobs alone, in this process (the consumer's, so its landings reach
 * canonical within a second with no worker running): graphile-worker polls every `pollMs` for
 * the debounced job. `stop` runs the transform still owed before it returns.
 */
export async function runTransformJobs(pool: pg.Pool, log: (line: string) => void, onRun: () => void, pollMs = 100, staleSeconds = 60): Promise<{ stop(): Promise<void> }> {
  const events = new EventEmitter() as WorkerEvents;
  events.on('job:success', ({ job }) => {
    if (job.task_identifier === TRANSFORM_JOB) onRun();
  });
  // says this process is alive, as a worker does, and unlocks the transform a killed one held
  const workerIds = new Set<string>();
  events.on('pool:create', ({ workerPool }) => workerIds.add(workerPool.id));
  const stopBeating = heartbeat(pool, workerIds, staleSeconds, log);
  const options = { pgPool: pool, taskList: { [TRANSFORM_JOB]: transformTask({ pool }) }, concurrency: 1, noHandleSignals: true, logger: logger(log), events };
  // no schedule here: the worker keeps it (and no crontab file is looked for)
  const runner = await run({ ...options, parsedCronItems: [], pollInterval: pollMs }).catch(async (e: unknown) => {
    await stopBeating();
    throw e;
  });
  return {
    async stop() {
      try {
        await runner.stop();
        // the run a last landing queued, made due now and run here
        await pool.query(`select graphile_worker.reschedule_jobs(array(select id from graphile_worker.jobs where key = $1 and locked_at is null), run_at => now())`,
          [TRANSFORM_JOB]);
        await runOnce(options);
      } finally {
        await stopBeating();
      }
    },
  };
}
