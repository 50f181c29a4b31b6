import { setTimeout as sleep } from 'node:timers/promises';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Logger, runOnce } from 'graphile-worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PipelineStatus } from '../../src/audit/status.js';
import { runCli } from '../helpers/cli.js';
import type { TestDatabase } from '../helpers/db.js';
import { transformedSample } from '../helpers/sample.js';

// `status` answers "is it healthy, and what needs me": --json for scripts, exit 1 when a
// person is needed — a job that failed every attempt, a paused registry, a push that
// stopped, a feed that went quiet for longer than the config allows.

let db: TestDatabase;
beforeAll(async () => {
  ({ db } = await transformedSample(81));
});
afterAll(async () => {
  await db?.drop();
});

const status = async (env: Record<string, string> = {}) => {
  const run = await runCli(['status', '--json'], db.url, env);
  return { code: run.code, stderr: run.stderr, status: JSON.parse(run.stdout) as PipelineStatus };
};

describe('status', () => {
  it('is healthy with nothing to act on, and names each thing that needs a person, exiting 1', async () => {
    const quiet = await status();
    expect(quiet.code, quiet.stderr).toBe(0);
    expect(quiet.status.needs).toEqual([]);
    expect(quiet.status.sources.map((s) => s.source)).toEqual(['store_b']);
    expect(quiet.status.sources[0]!.records).toBeGreaterThan(0);
    expect(quiet.status.funnel.find((f) => f.entity === 'company' && f.stage === 'canonical')!.records).toBeGreaterThan(0);

    // a job that failed every attempt
    await db.pool.query(`select graphile_worker.add_job('registry_check', '{"inn": "7707083893"}', max_attempts => 1)`);
    await runOnce({ pgPool: db.pool, logger: new Logger(() => () => {}), taskList: { registry_check: async () => { throw new Error('the provider answered 500'); } } });
    // a paused registry provider
    await db.pool.query(`insert into etl.registry_pacing (provider, paused_until, pause_kind, paused_at, pause_reason)
      values ('dadata', 'infinity', 'config', now(), 'DaData refused the token (401)')
      on conflict (provider) do update set paused_until = excluded.paused_until, pause_kind = excluded.pause_kind, pause_reason = excluded.pause_reason`);
    // a push that stopped for a reason
    await db.pool.query(`insert into etl.crm_portal (portal) values ('acme.bitrix24.ru');
      insert into etl.crm_push_run (portal, mode, finished_at, stats) values ('acme.bitrix24.ru', 'import', now(),
        '{"stopped": true, "reason": "the portal does not accept the webhook (INVALID_CREDENTIALS)"}')`);
    // a feed quiet for longer than the config allows
    const config = join(tmpdir(), `b2b-etl-status-${process.pid}.json`);
    writeFileSync(config, JSON.stringify({ status: { maxFeedAge: { store_b: '1s', store_a: '1h' } } }));
    await sleep(1500);

    const loud = await status({ B2B_ETL_CONFIG: config });
    expect(loud.code, loud.stderr).toBe(1);
    expect(loud.status.needs).toHaveLength(5);
    expect(loud.status.needs).toEqual(expect.arrayContaining([
      expect.stringMatching(/^1 registry_check job\(s\) failed every attempt: .*the provider answered 500/),
      expect.stringMatching(/^registry dadata paused since .*: DaData refused the token \(401\)/),
      expect.stringMatching(/^the last push to portal acme\.bitrix24\.ru \(run \d+\) stopped: the portal does not accept the webhook/),
      expect.stringMatching(/^source store_b landed nothing since \d{4}-\d\d-\d\dT.*, longer than status\.maxFeedAge 1s$/),
      expect.stringMatching(/^source store_a landed nothing yet, longer than status\.maxFeedAge 1h$/),
    ]));
    expect(loud.status.jobs).toEqual(expect.arrayContaining([expect.objectContaining({ task: 'registry_check', failed: 1, last_error: expect.stringMatching(/the provider answered 500/) })]));
    // the same on one screen, what needs a person first
    const text = await runCli(['status'], db.url, { B2B_ETL_CONFIG: config });
    expect(text.code).toBe(1);
    expect(text.stdout).toMatch(/^needs a person \(5\):\n {2}- /);
    expect(text.stdout).toMatch(/\njobs:\n {2}registry_check +[\d ]+ queued +0 running +1 failed; last error: .*the provider answered 500/);
  });
});
