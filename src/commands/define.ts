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

/** Commander option parsers: a bad value is a usage error naming the option. */
export function positiveInt(value: string): number {
  const n = wholeNumber(value);
  if (n === null || n < 1) throw new InvalidArgumentError('Expected a positive whole number.');
  return n;
}

export function nonNegativeInt(value: string): number {
  const n = wholeNumber(value);
  if (n === null) throw new InvalidArgumentError('Expected a whole number, 0 or more.');
  return n;
}

/** Decimal digits only (no '', 0x10, 1e3 or 1.0), within what a number holds exactly; else null. */
function wholeNumber(value: string): number | null {
  const digits = value.trim();
  if (!/^\d+$/.test(digits)) return null;
  const n = Number(digits);
  return Number.isSafeInteger(n) ? n : null;
}

/**
 * A day, or a day and time, as YYYY-MM-DD[ HH:MM[:SS]]: a real one (no 2026-02-30, no 24:00),
 * since a source's DATETIME comparison would take an impossible day without a word.
 */
export function calendarTime(value: string): string {
  const match = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2}))?)?$/.exec(value);
  if (!match) throw new InvalidArgumentError('Expected a date, YYYY-MM-DD or YYYY-MM-DD HH:MM:SS.');
  const [year, month, day, hour = 0, minute = 0, second = 0] = match.slice(1).map((part) => (part === undefined ? undefined : Number(part)));
  const date = new Date(Date.UTC(year!, month! - 1, day!));
  if (date.getUTCFullYear() !== year || date.getUTCMonth() !== month! - 1 || date.getUTCDate() !== day) {
    throw new InvalidArgumentError(`There is no such day as ${match[1]}-${match[2]}-${match[3]}.`);
  }
  if (hour! > 23 || minute! > 59 || second! > 59) throw new InvalidArgumentError('Expected a time of day from 00:00:00 to 23:59:59.');
  return value;
}

export function positiveNumber(value: string): number {
  const n = Number(value);
  if (!(value.trim() !== '' && Number.isFinite(n) && n > 0)) throw new InvalidArgumentError('Expected a number above 0.');
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
