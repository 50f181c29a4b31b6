#!/usr/bin/env node
import { UsageError } from './commands/context.js';
import { consumeCommand } from './commands/consume.js';
import { demoCommand } from './commands/demo.js';
import { enrichCommand, registryCommand, workerCommand } from './commands/enrich.js';
import { generateCommand } from './commands/generate.js';
import { landCommand } from './commands/land.js';
import { migrateCommand } from './commands/migrate.js';
import { statusCommand } from './commands/status.js';
import { transformCommand } from './commands/transform.js';
import { whyCommand } from './commands/why.js';

const COMMANDS: Record<string, (args: string[]) => Promise<number>> = {
  migrate: migrateCommand,
  land: landCommand,
  consume: consumeCommand,
  worker: workerCommand,
  enrich: enrichCommand,
  registry: registryCommand,
  transform: transformCommand,
  why: whyCommand,
  status: statusCommand,
  generate: generateCommand,
  demo: demoCommand,
  sandbox: (args) => import('./commands/sandbox.js').then((m) => m.sandboxCommand(args)),
};

const HELP = `b2b-etl — merges store A and store B customer bases into one clean base

usage: b2b-etl COMMAND [options]
  migrate                      create or update the warehouse schema and SQL
  land file PATH ...           land a JSON/NDJSON file (see b2b-etl land file --help)
  land mysql --source NAME     land a MySQL source: full, or incremental from its watermark (MYSQL_URL)
  consume --source NAME        land a Kafka topic's events until SIGTERM (KAFKA_BROKERS)
  transform [--full]           clean, validate and dedupe what landed (or everything)
  worker [--concurrency N]     run jobs (registry checks, transform, daily refresh) until SIGTERM
  enrich [--refresh-older-than 30d]  run the queued registry checks now, then the transform
  registry import FILE         load a registry export (CSV/JSON) for the snapshot provider
  why INN|SOURCE:KEY           where a record came from and what became of it
  status                       the funnel and what waits for the transform
  generate --out DIR ...       deterministic sample data with its expected outcome
  demo [--serve]               all of it on embedded PostgreSQL and the sample

DATABASE_URL selects the PostgreSQL server; without it an embedded one runs in .data/.`;

async function main(argv: string[]): Promise<number> {
  const [name, ...args] = argv;
  if (!name || name === '--help' || name === 'help') {
    process.stdout.write(HELP + '\n');
    return name ? 0 : 2;
  }
  const command = COMMANDS[name];
  if (!command) throw new UsageError(`unknown command '${name}'\n\n${HELP}`);
  return command(args);
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    const code = (e as { code?: unknown }).code;
    const usage = e instanceof UsageError || (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS'));
    process.stderr.write(`b2b-etl: ${(e as Error).message}\n`);
    process.exit(usage ? 2 : 1);
  },
);
