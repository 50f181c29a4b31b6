import type pg from 'pg';

/**
 * What follows a landing: the incremental transform, as one graphile-worker job under one job
 * key, in a queue of its own (one run at a time). Due `debounceMs` after the latest landing,
 * but no later than `maxWaitMs` after the first landing it serves: a steady stream of landings
 * is transformed at least every `maxWaitMs`. Callers with different timings share the job (a
 * live feed's landings, a file's, the registry's answers): the earliest deadline any of them
 * set holds (etl.transform_deadline), so a slower caller's debounce never delays a feed's
 * transform past the feed's own longest wait. A landing while the transform runs queues one
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
 * The transform's graphile-worker priority: before any other due job (they have 0). A worker
 * takes due jobs by priority and then by due time, and registry checks and pushes queue up by
 * the thousand behind a live feed: at an equal priority the transform, due last, waited for
 * free slots behind all of them.
 */
export const TRANSFORM_PRIORITY = -1;

/**
 * Queues the transform after a landing, in the landing's own transaction (`db`): the job exists
 * exactly when the landed rows do.
 */
export async function queueTransform(db: pg.PoolClient | pg.Pool, timing: TransformTiming = TRANSFORM_TIMING): Promise<void> {
  // (a new job's created_at is now(): graphile-worker's default, in this transaction)
  await db.query(
    `with waiting as (
       select created_at from graphile_worker.jobs where key = $1 and locked_at is null
     ), deadline as (
       select coalesce(w.created_at, now()) as created,
              least(coalesce(w.created_at, now()) + make_interval(secs => $3),
                    (select d.due_by from etl.transform_deadline d where d.job_created_at = w.created_at)) as at
       from (select) as one left join waiting w on true
     ), kept as (
       insert into etl.transform_deadline (job_created_at, due_by) select created, at from deadline
       on conflict (only_row) do update set job_created_at = excluded.job_created_at, due_by = excluded.due_by
     )
     select graphile_worker.add_job(identifier => $1, payload => '{}'::json, queue_name => $1, job_key => $1, job_key_mode => 'replace',
       priority => $4, run_at => least(now() + make_interval(secs => $2), deadline.at))
     from deadline`,
    [TRANSFORM_JOB, timing.debounceMs / 1000, timing.maxWaitMs / 1000, TRANSFORM_PRIORITY]);
}

/**
 * The transform after a change already committed (a registry answer): queued only when a
 * transform job waits that has never been tried. Such a job has not started, so it reads the
 * committed change, and it is due within its own longest wait. Registry checks answer by the
 * hundred a second behind a live feed: each queueing would take the job's row lock from the
 * feed's landings and their transform. A job that failed (waiting for its retry, or with no
 * attempts left) is replaced as before: the answer does not wait for it.
 */
export async function requestTransform(pool: pg.Pool): Promise<void> {
  if (!(await untriedJobWaits(pool, TRANSFORM_JOB))) await queueTransform(pool);
}

/**
 * Whether the job under `key` waits and was never tried: it has not started, so it reads what
 * its caller committed, and queueing it again would change nothing but take its row lock.
 */
export async function untriedJobWaits(pool: pg.Pool, key: string): Promise<boolean> {
  const { rowCount } = await pool.query(`select from graphile_worker.jobs where key = $1 and locked_at is null and attempts = 0`, [key]);
  return Boolean(rowCount);
}

/**
 * Batches landed a while ago (`olderThanSeconds`) and never transformed, with no transform job
 * waiting, running or failed (a failed one is for a person: `status` says so): a transform is
 * queued for them; returns whether it was. A landing's queueing can come to nothing: when a
 * worker takes the waiting job in the moment between the landing's look at it and its update,
 * graphile-worker's add_job neither updates the taken job nor adds one, and the run that started
 * may not see the landing. The worker's sweep calls this.
 */
export async function sweepTransform(pool: pg.Pool, olderThanSeconds = 30): Promise<boolean> {
  const { rows: [stranded] } = await pool.query<{ stranded: boolean }>(
    `select exists (select from staging.batch where transformed_at is null and landed_at < now() - make_interval(secs => $2))
        and not exists (select from graphile_worker.jobs where task_identifier = $1) as stranded`,
    [TRANSFORM_JOB, olderThanSeconds]);
  if (!stranded?.stranded) return false;
  await queueTransform(pool);
  return true;
}
