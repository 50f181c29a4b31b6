import type pg from 'pg';

/**
 * What follows a landing: the incremental transform, as one graphile-worker job under one job
 * key, in a queue of its own (one run at a time). Due `debounceMs` after the latest landing,
 * but no later than `maxWaitMs` after the first landing it serves: a steady stream of landings
 * is transformed at least every `maxWaitMs`. A landing while the transform runs queues one
 * more run after it (graphile-worker gives a running job's key to the new one).
 */
export interface TransformTiming {
  debounceMs: number;
  maxWaitMs: number;
}

export const TRANSFORM_TIMING: TransformTiming = { debounceMs: 150, maxWaitMs: 1500 };

/** The transform's job key and queue: one waiting run, and one run at a time, across every worker. */
export const TRANSFORM_JOB = 'transform';

/**
 * Queues the transform after a landing, in the landing's own transaction (`db`): the job exists
 * exactly when the landed rows do.
 */
export async function queueTransform(db: pg.PoolClient | pg.Pool, timing: TransformTiming = TRANSFORM_TIMING): Promise<void> {
  await db.query(
    `select graphile_worker.add_job(identifier => $1, payload => '{}'::json, queue_name => $1, job_key => $1, job_key_mode => 'replace',
       run_at => least(now() + make_interval(secs => $2),
                       coalesce((select created_at from graphile_worker.jobs where key = $1 and locked_at is null), now()) + make_interval(secs => $3)))`,
    [TRANSFORM_JOB, timing.debounceMs / 1000, timing.maxWaitMs / 1000]);
}
