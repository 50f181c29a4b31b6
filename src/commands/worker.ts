import type { Command } from 'commander';
import { badRecordPolicy, kafkaBrokers, kafkaConnection, kafkaSource, mysqlUrl, registryConfig, workerConfig } from '../config.js';
import { KafkaConsumer } from '../land/kafka.js';
import { cronItems } from '../jobs/crontab.js';
import { runWorker } from '../jobs/worker.js';
import { serveEndpoints, type ServiceEndpoints } from '../service/http.js';
import { pipelineMetrics } from '../service/metrics.js';
import { configuration, log, UsageError, withDatabase } from './context.js';
import { action, positiveInt } from './define.js';
import { buildReport } from '../audit/report.js';
import { pipelineStatus, statusText } from '../audit/status.js';

/** `b2b-etl worker`: the whole pipeline in one process until SIGTERM. */
export function defineWorker(program: Command): void {
  program
    .command('worker')
    .summary('run the pipeline until SIGTERM: scheduled syncs, Kafka, the transform, registry checks, pushes, /metrics')
    .description('Runs the pipeline in one process until SIGTERM or SIGINT: the graphile-worker jobs (the transform every landing ' +
      'queues, registry checks, pushes to the portal of BITRIX24_WEBHOOK_URL), the schedule of the config\'s worker section (each ' +
      'MySQL source\'s sync, daily 23:00 UTC by default; the registry refresh; a push sweep), the consumer of each Kafka source the ' +
      'config describes, and /healthz, /metrics, / (the data-quality report) and /status on worker.host:worker.port (127.0.0.1:9464). Several workers may run against ' +
      'one database: they share the jobs and the Kafka partitions, and never run one sync twice at once.')
    .option('--concurrency <n>', 'jobs at once in this process (default: worker.concurrency, else registry.concurrency)', positiveInt)
    .action(action((flags: { concurrency?: number }) => workerCommand(flags)));
}

async function workerCommand(flags: { concurrency?: number }): Promise<number> {
  const config = configuration();
  const w = workerConfig(config);
  const registry = registryConfig(config);
  const concurrency = flags.concurrency ?? w.concurrency;
  // what the schedule and the consumers need is checked before anything starts
  if (Object.keys(w.sync).length > 0) mysqlUrl();
  const feeds = w.consume.map((source) => ({ source, config: kafkaSource(config, source) }));
  const brokers = feeds.length > 0 ? kafkaBrokers() : [];
  const connection = kafkaConnection(config);
  await withDatabase(async (db) => {
    const consumers: KafkaConsumer[] = [];
    let endpoints: ServiceEndpoints | null = null;
    const worker = await runWorker({ pool: db.pool, registry, log, concurrency, cron: cronItems(w) });
    let stopping: Promise<void> | null = null;
    const stop = (why: string) => {
      stopping ??= (async () => {
        log(`worker: ${why}: finishing the batches and jobs in flight`);
        // consumers first: their batch in flight lands and queues its transform, which the runner may still take
        await Promise.allSettled(consumers.map((c) => c.stop()));
        await worker.stop();
        await endpoints?.close();
      })();
      return stopping;
    };
    process.once('SIGTERM', () => void stop('SIGTERM'));
    process.once('SIGINT', () => void stop('SIGINT'));
    try {
      for (const feed of feeds) {
        const consumer = new KafkaConsumer(db.pool, { brokers, connection, source: feed.source, config: feed.config, transform: false, log, progressSeconds: 60,
          badRecords: badRecordPolicy(config, feed.source, 'kafka') });
        consumers.push(consumer);
        await consumer.start();
        consumer.finished.catch((e: Error) => void stop(`the ${feed.source} consumer failed: ${e.message}`));
      }
      if (w.port > 0) {
        const metrics = pipelineMetrics(db.pool, async () => (await Promise.all(consumers.map((c) => c.lag().catch(() => [])))).flat());
        const pages = { report: () => buildReport(db.pool), status: async () => statusText(db.pool, await pipelineStatus(db.pool, config)) };
        const serve = (port: number) => serveEndpoints({ host: w.host, port, pool: db.pool, metrics, pages });
        endpoints = await serve(w.port).catch((e: NodeJS.ErrnoException) => {
          // the default port taken (another worker on this machine): another, said; a port of the config's taken: its problem
          if (e.code === 'EADDRINUSE' && config.worker?.port === undefined) {
            log(`worker: port ${w.port} on ${w.host} is taken (another worker?): serving on another; worker.port in the config chooses one`);
            return serve(0);
          }
          if (e.code === 'EADDRINUSE' || e.code === 'EACCES' || e.code === 'EADDRNOTAVAIL') {
            throw new UsageError(`worker: cannot serve on ${w.host}:${w.port} (${e.code}): set worker.port (0 for none) or worker.host in the config`);
          }
          throw e;
        });
      }
    } catch (e) {
      await stop('it could not start');
      throw e;
    }
    const schedule = [...Object.entries(w.sync).map(([source, cron]) => `${source} sync at ${cron}`), `registry refresh at ${w.registryRefresh}`, `push sweep at ${w.pushSweep}`];
    log(`worker: running ${concurrency} jobs at once; schedule (UTC): ${schedule.join(', ')}; ` +
      `${feeds.length ? `consuming ${feeds.map((f) => `${f.source} (${f.config.topic})`).join(', ')}` : 'no Kafka source'}` +
      `${endpoints ? `; ${endpoints.url}/ (the report), /status, /healthz and /metrics` : ''}; SIGTERM stops it`);
    await worker.done;
    await stopping;
  }, { poolSize: concurrency + 6 });
  return 0;
}
