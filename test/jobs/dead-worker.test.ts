import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { queueTransform } from '../../src/jobs/chain.js';
import { runTransformJobs, unlockDeadWorkers } from '../../src/jobs/worker.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';

// A worker killed while it ran a transform that a later landing had queued again: the job it
// held lost its key to the newer one and has no attempts left (graphile-worker lets it finish,
// never runs it again). When its process is found dead, that job is done, not failed: status
// must not call a person for it.

describe('jobs of a dead worker', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => {
    await db?.drop();
  });

  it('a superseded job the dead worker held is completed; the newer job of its key waits; nothing counts as failed', async () => {
    await queueTransform(db.pool);
    // a worker process takes it and is killed: its lock stays, and no heartbeat claims it (what
    // graphile-worker's own fetch does; there is no public function for it)
    await db.pool.query(`update graphile_worker._private_jobs set locked_by = 'killed-worker', locked_at = now() - interval '1 hour',
      attempts = attempts + 1 where key = 'transform'`);
    // a landing while it ran: graphile-worker hands the key to a new job
    await queueTransform(db.pool);
    expect(await db.rows(`select key, attempts >= max_attempts as spent, locked_by from graphile_worker.jobs where task_identifier = 'transform' order by id`))
      .toEqual([{ key: null, spent: true, locked_by: 'killed-worker' }, { key: 'transform', spent: false, locked_by: null }]);

    expect(await unlockDeadWorkers(db.pool, 60)).toBe(1);
    expect(await db.rows(`select key, locked_by from graphile_worker.jobs where task_identifier = 'transform'`))
      .toEqual([{ key: 'transform', locked_by: null }]);
    expect(await db.value(`select coalesce(sum(failed), 0)::int from etl.job_status`)).toBe(0);
  });

  it('a push sweep the schedule queued again while the dead worker ran it is completed too, not failed', async () => {
    await db.pool.query('delete from graphile_worker._private_jobs');
    // the schedule's sweep goes under its job key each minute
    const sweep = `select graphile_worker.add_job(identifier => 'push_sweep', payload => '{}'::json, job_key => 'push_sweep')`;
    await db.pool.query(sweep);
    await db.pool.query(`update graphile_worker._private_jobs set locked_by = 'killed-worker-3', locked_at = now() - interval '1 hour',
      attempts = attempts + 1 where key = 'push_sweep'`);
    await db.pool.query(sweep);
    expect(await unlockDeadWorkers(db.pool, 60)).toBe(1);
    expect(await db.rows(`select key, locked_by from graphile_worker.jobs where task_identifier = 'push_sweep'`))
      .toEqual([{ key: 'push_sweep', locked_by: null }]);
    expect(await db.value(`select coalesce(sum(failed), 0)::int from etl.job_status`)).toBe(0);
  });

  it('a job killed on a real attempt keeps its key and is unlocked to run again', async () => {
    await db.pool.query('delete from graphile_worker._private_jobs');
    await queueTransform(db.pool);
    await db.pool.query(`update graphile_worker._private_jobs set locked_by = 'killed-worker-2', locked_at = now() - interval '1 hour',
      attempts = attempts + 1 where key = 'transform'`);
    expect(await unlockDeadWorkers(db.pool, 60)).toBe(1);
    expect(await db.rows(`select key, locked_by, attempts from graphile_worker.jobs where task_identifier = 'transform'`))
      .toEqual([{ key: 'transform', locked_by: null, attempts: 1 }]);
  });

  it('the consumer\'s own transform runner takes back a transform a killed consumer held', async () => {
    await db.pool.query('delete from graphile_worker._private_jobs');
    await queueTransform(db.pool, { debounceMs: 0, maxWaitMs: 1 });
    await db.pool.query(`update graphile_worker._private_jobs set locked_by = 'killed-consumer', locked_at = now() - interval '1 hour',
      attempts = attempts + 1 where key = 'transform'`);
    let runs = 0;
    const runner = await runTransformJobs(db.pool, () => {}, () => { runs += 1; });
    try {
      for (let i = 0; i < 150 && runs === 0; i++) await new Promise((resolve) => setTimeout(resolve, 100));
    } finally {
      await runner.stop();
    }
    expect(runs).toBeGreaterThan(0);
    expect(await db.value(`select count(*)::int from graphile_worker.jobs where locked_by = 'killed-consumer'`)).toBe(0);
  });
});
