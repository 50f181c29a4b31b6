import { InvalidArgumentError, type Command } from 'commander';

/** The exit code the command that ran asked for: 0 done, 1 failed. */
let exitCode = 0;

/** The exit code of the action that ran (0 when none did), cleared for the next parse. */
export function takeExitCode(): number {
  const code = exitCode;
  exitCode = 0;
  return code;
}

/** A command's action, resolving to its exit code (0 done, 1 failed), as commander's action handler. */
export function action<A extends unknown[]>(run: (...args: A) => Promise<number>): (...args: A) => Promise<void> {
  return async (...args: A) => {
    exitCode = await run(...args);
  };
}

/**
 * Registers a command written as `(args) => exit code` that parses its own arguments:
 * everything after its name reaches it untouched, `--help` included.
 */
export function addPlainCommand(program: Command, name: string, summary: string, run: (args: string[]) => Promise<number>): Command {
  return program
    .command(name)
    .summary(summary)
    .description(`${summary} (${name} --help lists its options)`)
    .helpOption(false)
    .allowUnknownOption()
    .allowExcessArguments()
    .argument('[args...]')
    .action(action(async (_args: string[], _options: unknown, command: Command) => run(command.args)));
}

/** Commander option parsers: a bad value is a usage error naming the option. */
export function positiveInt(value: string): number {
  const n = Number(value);
  if (!(Number.isInteger(n) && n > 0)) throw new InvalidArgumentError('Expected a positive whole number.');
  return n;
}

export function nonNegativeInt(value: string): number {
  const n = Number(value);
  if (!(Number.isInteger(n) && n >= 0)) throw new InvalidArgumentError('Expected a whole number, 0 or more.');
  return n;
}

export function nonNegativeNumber(value: string): number {
  const n = Number(value);
  if (!(value.trim() !== '' && Number.isFinite(n) && n >= 0)) throw new InvalidArgumentError('Expected a number of seconds, 0 or more.');
  return n;
}

/**
 * Options a command cannot run without. Checked before the action rather than by commander's
 * mandatory options, which are checked before unknown ones: a misspelt --sorce must be named
 * as unknown (with its suggestion), not reported as a missing --source.
 */
export function requireOptions(command: Command, ...longNames: string[]): Command {
  const options = longNames.map((long) => {
    const option = command.options.find((o) => o.long === long);
    if (!option) throw new Error(`${command.name()} has no option ${long}`);
    option.description = `${option.description} (required)`;
    return option;
  });
  return command.hook('preAction', (_, actionCommand) => {
    const missing = options.find((o) => actionCommand.getOptionValue(o.attributeName()) === undefined);
    if (missing) actionCommand.error(`required option '${missing.flags}' not specified`, { code: 'commander.missingMandatoryOptionValue' });
  });
}
