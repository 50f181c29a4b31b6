import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command, CommanderError } from 'commander';
import { ConfigError } from '../config.js';
import { defineConsume } from './consume.js';
import { defineCrm } from './crm.js';
import { forgetConfiguration, configuration, NotMigratedError, UsageError } from './context.js';
import { takeExitCode } from './define.js';
import { defineDemo } from './demo.js';
import { defineEnrich } from './enrich.js';
import { defineGenerate } from './generate.js';
import { defineGrant } from './grant.js';
import { defineLand } from './land.js';
import { defineMigrate } from './migrate.js';
import { defineProduce } from './produce.js';
import { definePush } from './push.js';
import { defineRegistry } from './registry.js';
import { defineReport } from './report.js';
import { defineStatus } from './status.js';
import { defineTransform } from './transform.js';
import { defineSandbox } from './sandbox.js';
import { defineWhy } from './why.js';
import { defineWorker } from './worker.js';
import { projectRoot } from '../db/paths.js';
import { UnknownSourceError } from '../land/sources.js';
import { mask } from '../secrets.js';

/** Exit codes: the README's "Exit codes" section says the same. */
const DONE = 0;
const FAILED = 1;
const USAGE = 2;

const ENVIRONMENT = `
Environment:
  DATABASE_URL        the PostgreSQL server; without it an embedded one runs in .data/
  MYSQL_URL           store A's replica (land mysql)
  KAFKA_BROKERS       Kafka brokers (consume, produce; default 127.0.0.1:9092), KAFKA_SASL_USERNAME, KAFKA_SASL_PASSWORD
  DADATA_URL, DADATA_TOKEN  the DaData registry provider
  B2B_ETL_CONFIG      the config file (default ./b2b-etl.config.json)
Secrets are never printed.

Exit codes: 0 done, 1 failed, 2 wrong usage or configuration (nothing was done).`;

/**
 * The program. Its settings are set before any command is added: commander copies them to a
 * command when it is created.
 */
export function buildProgram(): Command {
  const program = new Command('b2b-etl')
    .description('Merges store A and store B customer bases into one clean base.')
    .version(packageVersion(), '-V, --version', 'print the version')
    .helpOption('-h, --help', 'show help for a command')
    .helpCommand('help [command...]', 'show help for a command')
    .exitOverride()
    .configureOutput({
      writeOut: (text) => process.stdout.write(text),
      writeErr: (text) => process.stderr.write(mask(text)),
      // usage errors are printed by main() in one sentence with the command they belong to
      outputError: () => {},
    })
    .showSuggestionAfterError(true)
    .addHelpText('after', ENVIRONMENT)
    // the configuration file is checked whole before any command runs, whether it reads it or not
    .hook('preAction', () => {
      configuration();
    });
  defineMigrate(program);
  defineLand(program);
  defineConsume(program);
  defineTransform(program);
  defineEnrich(program);
  defineRegistry(program);
  defineWorker(program);
  definePush(program);
  defineCrm(program);
  defineWhy(program);
  defineStatus(program);
  defineReport(program);
  defineGrant(program);
  defineGenerate(program);
  defineProduce(program);
  defineDemo(program);
  defineSandbox(program);
  return program;
}

export async function main(argv: string[], program = buildProgram()): Promise<number> {
  forgetConfiguration();
  let words = argv;
  try {
    words = helpAsOption(program, argv);
    await program.parseAsync(words, { from: 'user' });
    return takeExitCode();
  } catch (e) {
    if (e instanceof CommanderError) return commanderExit(e, program, words);
    const usage = e instanceof UsageError || e instanceof ConfigError || e instanceof UnknownSourceError;
    const known = usage || e instanceof NotMigratedError;
    const message = e instanceof Error ? e.message : String(e);
    process.stderr.write(`b2b-etl: ${mask(message)}\n`);
    // an error no one here wrote a message for: its stack only when asked, never a secret
    if (!known && process.env.B2B_ETL_DEBUG && e instanceof Error && e.stack) process.stderr.write(`${mask(e.stack)}\n`);
    return usage ? USAGE : FAILED;
  }
}

/**
 * `help land file` (or `land help file`) as `land file --help`. Commander's help command reads
 * one word only and answers a word it does not know with the program's help and no message;
 * here such a word is handed to the parse in place of a command, which names it as unknown
 * (with a suggestion) — never run: only a command group, which has no action, gets it.
 */
function helpAsOption(program: Command, argv: string[]): string[] {
  let command = program;
  let at = 0;
  for (let next; at < argv.length && (next = subcommand(command, argv[at]!)); at++) command = next;
  if (argv[at] !== 'help' || command.commands.length === 0) return argv;
  const path = argv.slice(0, at);
  for (const word of argv.slice(at + 1)) {
    const next = subcommand(command, word);
    if (!next && command.commands.length > 0) return [...path, word];
    if (!next) throw new UsageError(`help: ${path.join(' ')} has no subcommand '${word}'; see b2b-etl help ${path.join(' ')}`);
    path.push(word);
    command = next;
  }
  return [...path, '--help'];
}

function subcommand(command: Command, word: string): Command | undefined {
  return command.commands.find((c) => c.name() === word || c.aliases().includes(word));
}

/** Help and --version are done; every other commander error is a usage error, said in one sentence. */
function commanderExit(e: CommanderError, program: Command, argv: string[]): number {
  if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version') return DONE;
  // help asked for is done; a command group given without its subcommand shows its help as an error
  if (e.code === 'commander.help') return e.exitCode === 0 ? DONE : USAGE;
  const path = commandPath(program, argv);
  const sentence = e.message.replace(/^error: /, '').replace(/\n\(Did you mean (.*)\?\)/, ' (did you mean $1?)')
    .replace(/\s*\n\s*/g, ' ').replace(/\.$/, '');
  process.stderr.write(`b2b-etl${path ? ` ${path}` : ''}: ${mask(sentence)}; see b2b-etl ${path ? `${path} ` : ''}--help\n`);
  return USAGE;
}

/** The command words of argv that name (sub)commands: "land file". */
function commandPath(program: Command, argv: string[]): string {
  const words: string[] = [];
  let command = program;
  for (const word of argv) {
    const next = subcommand(command, word);
    if (!next) break;
    words.push(word);
    command = next;
  }
  return words.join(' ');
}

function packageVersion(): string {
  return (JSON.parse(readFileSync(join(projectRoot(), 'package.json'), 'utf8')) as { version: string }).version;
}

