import { appendFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { printDrill } from '../../bench/drill/report.js';
import { runDrill } from '../../bench/drill/run.js';
import { STAGES } from '../../bench/drill/stages.js';
import { STORE_A_DUMP } from '../../src/generate/index.js';
import { loadMysqlDump } from '../../src/generate/load-mysql.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { BROKERS, createTopic, kafkaAvailable } from '../helpers/kafka.js';
import { createTestMysql, mysqlAvailable, type TestMysql } from '../helpers/mysql.js';
import { makeSample, type Sample } from '../helpers/sample.js';

// The crash drill's short form (bench/drill.ts runs it long): a small sample from MariaDB, store
// B's files and its topic flows through `b2b-etl worker` into a sandbox portal while the worker
// is killed with SIGKILL inside a handful of stages and restarted; the run then holds exactly
// what an uninterrupted run of the same input holds, in staging, canonical and the portal.

const available = (await kafkaAvailable()) && (await mysqlAvailable());

describe.skipIf(!available)('the crash drill', () => {
  let drill: TestDatabase;
  let reference: TestDatabase;
  let my: TestMysql;
  let sample: Sample;
  beforeAll(async () => {
    sample = await makeSample({ scale: 'small', seed: 5, companies: 80, contacts: 240, storeACompanies: 60, storeAContacts: 90, events: 300 });
    [drill, reference, my] = await Promise.all([createTestDatabase(), createTestDatabase(), createTestMysql()]);
    await loadMysqlDump(my.url, join(sample.dir, STORE_A_DUMP));
  });
  afterAll(async () => {
    await my?.drop();
    await drill?.drop();
    await reference?.drop();
  });

  it('loses and doubles nothing when the worker is killed inside its stages, compared with an uninterrupted run', async () => {
    const logFile = join(tmpdir(), `b2b-etl-drill-${process.pid}.log`);
    appendFileSync(logFile, '');
    const lines: string[] = [];
    const result = await runDrill({
      sampleDir: sample.dir, manifest: sample.manifest, windowStart: sample.truth.window_start,
      mysqlUrl: my.url, brokers: BROKERS, topic: await createTopic(3), logFile,
      mysqlBatchSize: 10, fileBatchSize: 20, kafkaFetchBytes: 4 << 10, pushChunk: 10,
      drillUrl: drill.url, referenceUrl: reference.url, kills: 5, fileKills: 1, seed: 5,
      eventsPerSecond: 30, settleSeconds: 120, log: (line) => lines.push(line),
    });
    printDrill(result, (line) => lines.push(line));
    const said = `${lines.join('\n')}\n(the processes' output: ${logFile})`;
    expect(result.differences, said).toEqual([]);
    for (const kind of ['staging records', 'Kafka messages', 'canonical companies', 'canonical contacts', 'portal companies', 'portal requisites', 'portal contacts', 'canonical deals', 'portal deals']) {
      expect(result.kinds.find((k) => k.kind === kind)?.reference, `${kind}\n${said}`).toBeGreaterThan(0);
    }
    expect(result.kills).toHaveLength(5);
    // the kills landed inside at least three different stages
    expect(STAGES.filter((stage) => result.byStage[stage]! > 0).length, said).toBeGreaterThanOrEqual(3);
    expect(result.jobs.drill.failedJobs, said).toEqual({});
    expect(result.lastExit, said).toBe(0);
  }, 240_000);
});
