// The crash drill: the generated sample flows through `b2b-etl worker` from all three sources
// (store A's MySQL tables in a MariaDB database of the drill's own, store B's files landed by
// `land file`, store B's events produced into a topic of the drill's own) into a sandbox
// portal, while the worker is killed with SIGKILL many times, each kill aimed at a stage (a
// MySQL page, a Kafka batch, a transform, a registry check, a push batch at the portal), and
// restarted. A file landing is killed too, now and then, and run again with --resume. An
// uninterrupted run of the same input goes alongside into a second warehouse and portal. Then
// staging, canonical, rejections, registry answers, CRM links and the portal's companies,
// requisites, bank details, addresses and contacts are compared by business key.
// Prints kills survived per stage, entities compared per kind, differences (target 0).
// Usage: DATABASE_URL=... MYSQL_URL=mysql://root@127.0.0.1:3306/test KAFKA_BROKERS=127.0.0.1:9092 \
//   npm run build && node dist/bench/drill.js [--kills 40] [--companies 2000] [--seed 1] [--keep]
// Its databases and topic are named for the run (b2b_etl_drill_<run>); it drops only those.
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { Kafka, logLevel } from 'kafkajs';
import { STORE_A_DUMP } from '../src/generate/index.js';
import { runDrill } from './drill/run.js';
import { printDrill } from './drill/report.js';
import { dropRunDatabases, freshDatabase, keepDatabase, mariadbWithDump, OUT, sampleAt } from './common.js';

const count = (value: string) => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('expected a whole number');
  return n;
};
const flags = new Command('bench/drill.ts')
  .option('--kills <n>', 'times the worker is killed', count, 40)
  .option('--file-kills <n>', 'times a file landing is killed and resumed', count, 3)
  .option('--seed <n>', 'the sample\'s seed and the driver\'s', count, 1)
  .option('--companies <n>', 'store B companies (contacts: 4 each, store A: half as many companies)', count, 2000)
  .option('--events <n>', 'store B Kafka events', count, 4000)
  .option('--events-per-second <n>', 'the rate they are produced at', count, 50)
  .option('--keep', 'keep the databases and the topic for a look afterwards', false)
  .parse()
  .opts<{ kills: number; fileKills: number; seed: number; companies: number; events: number; eventsPerSecond: number; keep: boolean }>();

const size = { companies: flags.companies, contacts: flags.companies * 4, storeACompanies: Math.ceil(flags.companies / 2), storeAContacts: Math.ceil(flags.companies * 0.75), events: flags.events };
const sample = await sampleAt(`drill-${flags.seed}-${flags.companies}-${flags.events}`, { scale: 'small', seed: flags.seed, ...size });
const run = `b2b_etl_drill_${Date.now().toString(36)}_${process.pid}`;
const brokers = (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(',');
const logFile = join(OUT, `${run}.log`);
appendFileSync(logFile, '');
console.log(`drill ${run}: ${size.companies} store B companies, ${size.contacts} contacts, ${size.events} events; store A ${size.storeACompanies} companies, ` +
  `${size.storeAContacts} contacts; ${flags.kills} kills; the processes' output goes to ${logFile}`);

const keep = { keep: flags.keep };
const [drillUrl, referenceUrl] = [await freshDatabase('b2b_etl_drill', keep), await freshDatabase('b2b_etl_drill_ref', keep)];
const { name: mysqlName, url: mysqlUrl } = await mariadbWithDump('b2b_etl_drill', join(sample.dir, STORE_A_DUMP));
if (flags.keep) keepDatabase(mysqlName);
const topic = run.replace(/_/g, '-');
const kafka = new Kafka({ clientId: 'b2b-etl-drill', brokers, logLevel: logLevel.NOTHING });
const admin = kafka.admin();
await admin.connect();
await admin.createTopics({ topics: [{ topic, numPartitions: 3 }], waitForLeaders: true });
let failed = false;
try {
  const result = await runDrill({
    sampleDir: sample.dir, manifest: sample.manifest, windowStart: sample.truth.window_start, mysqlUrl, brokers, topic, logFile,
    mysqlBatchSize: 50, fileBatchSize: 200, kafkaFetchBytes: 16 << 10, pushChunk: 50,
    drillUrl, referenceUrl, kills: flags.kills, fileKills: flags.fileKills, seed: flags.seed,
    eventsPerSecond: flags.eventsPerSecond, settleSeconds: 600, log: (line) => {
      console.log(line);
      appendFileSync(logFile, `${new Date().toISOString().slice(11, 23)} drill: ${line}\n`);
    },
  });
  failed = printDrill(result, (line) => console.log(line)) > 0;
} finally {
  if (!flags.keep) await admin.deleteTopics({ topics: [topic] }).catch(() => {});
  else console.log(`kept: PostgreSQL databases ${new URL(drillUrl).pathname.slice(1)} and ${new URL(referenceUrl).pathname.slice(1)} (portal schema drill_portal), MariaDB database ${mysqlName}, topic ${topic}`);
  await admin.disconnect();
  await dropRunDatabases();
}
process.exitCode = failed ? 1 : 0;
